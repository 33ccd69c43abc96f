"""The example scripts run end to end as a user starts them, on a tiny checkpoint (the
``JINA_CLIP_EXAMPLES_TINY`` switch or ``--tiny``), talking to nothing but 127.0.0.1; their
shared sample data is what its generator draws and its README lists.

``JINA_CLIP_EXAMPLES_REAL=1`` runs the scripts on the real jina-clip-v1 instead (it must be in
the local Hugging Face cache: the runs stay offline) and checks that it recognises the pictures.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Run the examples on the real model (from the local cache) instead of the tiny one.
REAL = os.environ.get("JINA_CLIP_EXAMPLES_REAL", "") == "1"
TINY_ENV = "JINA_CLIP_EXAMPLES_TINY"
NET_LOG_ENV = "JINA_CLIP_EXAMPLES_NET_LOG"

#: ``sitecustomize.py`` for the processes under test (scripts, notebook kernels, the server a
#: notebook starts): refuses and records every connection or name lookup off the loopback, so
#: a test fails when an example reaches for the network, even where the example swallows the
#: error. It refuses before any packet is sent.
GUARD = '''"""Examples tests: refuse, and record, network access that is not loopback."""
import ipaddress
import os
import socket

_LOG = os.environ.get("JINA_CLIP_EXAMPLES_NET_LOG", "")
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _is_loopback(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {host!r}\\n")
    raise OSError(f"examples test: network access to {host!r} refused (loopback only)")


def _guarded_connect(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        _refuse(address[0])
    return _connect(sock, address)


def _guarded_connect_ex(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        _refuse(address[0])
    return _connect_ex(sock, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback(host):
        _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
'''


def example_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a process under test: the loopback guard, the tiny switch (unless
    ``REAL``), the hub offline, and a Jina API key in the environment that must NOT make any
    example call Jina's API."""
    guard_dir = tmp_path / "loopback-guard"
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in (TINY_ENV, "OPENAI_API_KEY")}
    env.update({
        "PYTHONPATH": os.pathsep.join(p for p in (str(guard_dir), env.get("PYTHONPATH")) if p),
        NET_LOG_ENV: str(tmp_path / "network.log"),
        "HF_HUB_OFFLINE": "1",
        "JINA_API_KEY": "not-a-real-key",
    })
    if not REAL:
        env[TINY_ENV] = "1"
    return env


def network_attempts(tmp_path: Path) -> str:
    """What the guard refused (empty when nothing tried to leave the machine)."""
    log = tmp_path / "network.log"
    return log.read_text(encoding="utf-8") if log.exists() else ""


def _load(path: Path) -> ModuleType:
    """Import an example module by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


# --- the scripts ----------------------------------------------------------------------------

#: One script per switch form: the environment variable for some, ``--tiny`` for the other.
SCRIPTS = [
    ("quickstart.py", [], "captions score highest on their own picture"),
    ("llamaindex_multimodal_index.py", ["--tiny"], "images like red-circle.png"),
    ("langchain_multimodal_rag.py", [], "retrieved image: "),
    ("embed_corpus_to_vector_stores.py", [], "llamaindex hit: "),
]


@pytest.mark.parametrize(("script", "args", "expect"), SCRIPTS)
def test_example_script_runs_offline(
    script: str, args: list[str], expect: str, tmp_path: Path
) -> None:
    if REAL:
        args = []
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, timeout=900 if REAL else 300,
        env=example_env(tmp_path), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout
    assert ("tiny random checkpoint" in done.stdout) is not REAL
    assert not network_attempts(tmp_path)


@pytest.mark.skipif(not REAL, reason="the tiny checkpoint is random; set JINA_CLIP_EXAMPLES_REAL=1")
def test_real_model_matches_most_captions_with_their_pictures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True,
        timeout=900, env=example_env(tmp_path), cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"(\d+) of (\d+) captions score highest", done.stdout)
    assert found, done.stdout
    assert int(found[1]) >= int(found[2]) - 2, done.stdout


def test_tiny_switch_refuses_an_explicit_model_or_the_api(tmp_path: Path) -> None:
    env = {**example_env(tmp_path), TINY_ENV: "1"}
    for extra in (["--model", "jinaai/jina-clip-v1"], ["--api"]):
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / "quickstart.py"), *extra],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
        assert done.returncode != 0
        assert "cannot be combined with --model or --api" in done.stderr
    assert not network_attempts(tmp_path)


def test_v2_switch_runs_the_tiny_v2_checkpoint(tmp_path: Path) -> None:
    env = {**example_env(tmp_path), TINY_ENV: "v2"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tiny random checkpoint" in done.stdout
    assert not network_attempts(tmp_path)
    model = _load(EXAMPLES / "_model.py")
    config = (Path(model.model_path(True, True)) / "config.json").read_text()
    assert "jina-embeddings-v3" in config
    assert model.model_path(False, True) == "jinaai/jina-clip-v2"


@pytest.mark.parametrize(
    ("value", "tiny"),
    [("1", True), ("yes", True), ("", False), ("0", False), ("false", False), ("OFF", False)],
)
def test_tiny_switch_values(value: str, tiny: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _load(EXAMPLES / "_model.py")
    monkeypatch.setenv(TINY_ENV, value)
    assert model.tiny_requested() is tiny
    assert model.tiny_requested(True) is True  # --tiny needs no environment
    if not tiny:
        assert model.model_path() == "jinaai/jina-clip-v1"
        assert model.served_model_name() == "jina-clip-v1"


# --- the sample data ------------------------------------------------------------------------


def test_sample_pictures_are_what_the_generator_draws() -> None:
    make_samples = _load(EXAMPLES / "images" / "make_samples.py")
    assert make_samples.main(["--check"]) == 0


def test_sample_pictures_are_small_and_all_listed() -> None:
    from PIL import Image

    samples = _load(EXAMPLES / "_samples.py")
    make_samples = _load(EXAMPLES / "images" / "make_samples.py")
    files = sorted(p.name for p in (EXAMPLES / "images").iterdir() if p.suffix == ".png")
    assert files == sorted(make_samples.DRAWINGS) == sorted(samples.CAPTIONS)
    readme = (EXAMPLES / "images" / "README.md").read_text(encoding="utf-8")
    assert "CC0" in readme
    sizes = []
    for name in files:
        assert f"`{name}`" in readme, f"{name} is not described in images/README.md"
        path = EXAMPLES / "images" / name
        with Image.open(path) as image:
            assert (image.mode, image.size) == ("RGB", (224, 224))
        sizes.append(path.stat().st_size)
        assert sizes[-1] < 30_000, name
    assert sum(sizes) < 250_000
    assert len(files) >= 8


def test_sample_texts_are_loaded_in_file_order() -> None:
    samples = _load(EXAMPLES / "_samples.py")
    docs = samples.documents()
    assert list(docs) == sorted(p.name for p in (EXAMPLES / "docs").glob("*.txt"))
    assert len(docs) >= 8
    assert all(text and text == text.strip() for text in docs.values())


def test_result_grid_places_every_picture_and_refuses_missing_captions() -> None:
    grid_module = _load(EXAMPLES / "_grid.py")
    samples = _load(EXAMPLES / "_samples.py")
    paths = samples.image_paths()[:5]
    grid = grid_module.result_grid(paths, [p.stem for p in paths], columns=3, thumb=100)
    assert grid.size == (3 * 108 + 8, 2 * (100 + 6 + 28 + 8) + 8)
    # The first thumbnail is the red circle: its centre is red.
    r, g, b = grid.getpixel((8 + 50, 8 + 50))
    assert r > 180 and g < 80 and b < 80
    with pytest.raises(ValueError, match="5 images but 4 captions"):
        grid_module.result_grid(paths, ["a", "b", "c", "d"])


# --- the guard the tests rely on ------------------------------------------------------------


def test_loopback_guard_refuses_and_records_before_connecting(tmp_path: Path) -> None:
    """The guard refuses a public address and a host name without calling the real
    connect/getaddrinfo (replaced by recorders here, so a broken guard sends nothing
    either), and lets loopback through."""
    probe = """
import socket, sitecustomize as guard
calls = []
guard._connect = lambda sock, address: calls.append(address)
guard._getaddrinfo = lambda host, *a, **k: calls.append(host) or []
refused = 0
for attempt in (lambda: socket.socket().connect(("192.0.2.1", 80)),
                lambda: socket.getaddrinfo("example.com", 443)):
    try:
        attempt()
    except OSError:
        refused += 1
socket.socket().connect(("127.0.0.1", 9))
socket.getaddrinfo("localhost", 9)
print(refused, calls)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, env=example_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1) == ["2", "[('127.0.0.1', 9), 'localhost']\n"]
    refused = [line.split(" ", 1)[1] for line in network_attempts(tmp_path).splitlines()]
    assert refused == ["'192.0.2.1'", "'example.com'"]
