"""The ``jina-clip`` command line: --version, serve's flags, embed's JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from jina_clip import __version__, cli
from jina_clip.server import ServerSettings


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"jina-clip {__version__}"


def test_serve_flags_map_to_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[ServerSettings] = []
    monkeypatch.setattr("jina_clip.server.serve", captured.append)
    monkeypatch.setenv(cli.API_KEY_ENV, "from-env")
    rc = cli.main(["serve", "--model", "some/dir", "--port", "9000", "--max-batch-size", "8",
                   "--max-wait-ms", "2.5", "--no-batching", "--allow-private-urls",
                   "--served-model-name", "clip"])
    assert rc == 0
    s = captured[0]
    assert (s.model, s.port, s.max_batch_size, s.max_wait_ms) == ("some/dir", 9000, 8, 2.5)
    assert not s.batching and s.allow_private_urls and s.served_model_name == "clip"
    assert s.api_key is not None and s.api_key.get_secret_value() == "from-env"
    assert "from-env" not in repr(s)
    cli.main(["serve", "--api-key", "flag-key"])
    assert captured[1].api_key.get_secret_value() == "flag-key"
    assert captured[1].host == "127.0.0.1"


def test_retry_after_and_max_redirects_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[ServerSettings] = []
    monkeypatch.setattr("jina_clip.server.serve", captured.append)
    assert cli.main(["serve", "--retry-after", "7", "--max-redirects", "0"]) == 0
    assert (captured[0].retry_after_s, captured[0].max_redirects) == (7, 0)
    assert cli.main(["serve"]) == 0  # unset: the settings' defaults
    defaults = ServerSettings()
    assert (captured[1].retry_after_s, captured[1].max_redirects) == (
        defaults.retry_after_s, defaults.max_redirects)
    assert cli.main(["serve", "--retry-after", "-1"]) == 2  # bounds come from the settings


def test_every_server_setting_has_a_serve_flag() -> None:
    parser = cli.build_parser()
    base = cli.serve_settings(parser.parse_args(["serve"]))
    serve = next(a for a in parser._actions if a.dest == "command").choices["serve"]
    changed: set[str] = set()
    for action in serve._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = [] if action.nargs == 0 else [
            "x" if action.type is None else str(action.type(action.default or 0) + 1)]
        got = cli.serve_settings(parser.parse_args(["serve", action.option_strings[0], *value]))
        changed |= {n for n in ServerSettings.model_fields if getattr(got, n) != getattr(base, n)}
    assert changed == set(ServerSettings.model_fields)


def test_serve_rejects_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--max-batch-size", "0"]) == 2
    assert "max_batch_size" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "env"), [("", None), ("  ", None), (None, ""),
                                         (None, " "), ("", "from-env")])
def test_an_empty_api_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           flag: str | None, env: str | None) -> None:
    """An empty key used to turn auth off and serve everyone (issue 15, item 5)."""
    started: list[ServerSettings] = []
    monkeypatch.setattr("jina_clip.server.serve", started.append)
    monkeypatch.delenv(cli.API_KEY_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(cli.API_KEY_ENV, env)
    rc = cli.main(["serve", *(["--api-key", flag] if flag is not None else [])])
    assert rc != 0 and started == []
    err = capsys.readouterr().err
    assert "empty" in err and ("--api-key" if flag is not None else cli.API_KEY_ENV) in err


def test_jina_clip_serve_process_exits_non_zero_on_an_empty_key() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "jina_clip.cli", "serve", "--api-key", "",
                           "--model", "/nonexistent"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "--api-key is empty" in done.stderr


def test_server_settings_refuse_a_blank_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="API key is empty"):
        ServerSettings(api_key=" ")


def test_embed_prints_json(tiny_checkpoint: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from jina_clip import JinaCLIP

    rc = cli.main(["embed", "--model", str(tiny_checkpoint), "--device", "cpu",
                   "--text", "a cat", "--text", "a dog"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    with JinaCLIP.local(str(tiny_checkpoint), device="cpu") as clip:
        want = clip.encode_text(["a cat", "a dog"])
    got = np.array([d["embedding"] for d in out["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert [d["text"] for d in out["data"]] == ["a cat", "a dog"]
