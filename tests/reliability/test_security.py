"""Security: the server's address guard per address class, bearer auth compared in constant
time, malformed JSON, no stack traces or secrets in responses, logs, reprs, serialized
configs or exceptions, and no pickles or remote code anywhere in model loading.

No request leaves 127.0.0.1: names are answered by fake resolvers and ``loopback_only`` makes
any real DNS lookup or non-loopback connection fail."""

from __future__ import annotations

import hmac
import json
import logging
import pathlib
import pickle
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jina_clip import (
    APIConnectionError,
    AuthenticationError,
    JinaCLIP,
    JinaCLIPSettings,
    ModelLoadError,
    ServerError,
)
from jina_clip.model.hub import CHECKPOINT_FILES
from jina_clip.server import ServerSettings, ServerThread, create_app
from langchain_jina_clip import JinaCLIPEmbeddings
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

from ..server.conftest import PUBLIC, FakeEncoder, fake_resolver, loopback_only

__all__ = ["loopback_only"]  # a fixture, imported to be used here

SERVER_KEY = "srv-key-7Q2mZx9e"
CLIENT_KEY = "jina_client-key-K4v8Rt1w"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _asgi(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://app")


async def _embed(client: httpx.AsyncClient, items: Any, **headers: str) -> httpx.Response:
    return await client.post("/v1/embeddings", json={"model": "jina-clip-v1", "input": items},
                             headers=headers)


# --- SSRF: every address class, by IP literal and by a name resolving there ---------------------

NON_PUBLIC = {
    "loopback": "127.0.0.1",
    "loopback6": "::1",
    "private-10": "10.1.2.3",
    "private-172": "172.16.5.4",
    "private-192": "192.168.1.1",
    "link-local": "169.254.10.20",
    "metadata": "169.254.169.254",
    "link-local6": "fe80::1",
    "unique-local6": "fd00::1",
    "cgnat": "100.64.0.1",
    "unspecified": "0.0.0.0",
    "mapped-loopback": "::ffff:127.0.0.1",
}


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    table = {f"{name}.example": [ip] for name, ip in NON_PUBLIC.items()}
    table["mixed.example"] = [PUBLIC, NON_PUBLIC["metadata"]]
    app = create_app(FakeEncoder(), ServerSettings(), resolver=fake_resolver(table))
    async with _asgi(app) as client:
        yield client


@pytest.mark.usefixtures("loopback_only")
@pytest.mark.parametrize("name", [*NON_PUBLIC, "mixed"])
async def test_server_refuses_urls_to_non_public_addresses(guarded: httpx.AsyncClient,
                                                           name: str) -> None:
    urls = [f"http://{name}.example/cat.png"]
    if name in NON_PUBLIC:
        ip = NON_PUBLIC[name]
        urls.append(f"http://{f'[{ip}]' if ':' in ip else ip}/cat.png")
    for url in urls:
        for item in ({"image": url}, {"url": url}):  # current and legacy field
            response = await _embed(guarded, ["a text", item])
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["code"] == "unsafe_url" and body["detail"].startswith("input 1:")


# --- limits ------------------------------------------------------------------------------------


async def test_server_limits_items_body_and_image_bytes() -> None:
    settings = ServerSettings(max_inputs=3, max_body_bytes=4_000, max_image_bytes=500)
    async with _asgi(create_app(FakeEncoder(), settings)) as client:
        too_many = await _embed(client, ["a"] * 4)
        assert too_many.status_code == 400 and too_many.json()["code"] == "too_many_inputs"
        too_big = await _embed(client, ["x" * 5_000])
        assert too_big.status_code == 413
        image = await _embed(client, ["a", {"image": "A" * 800}])
        assert image.status_code == 422 and "input 1" in image.json()["detail"]


# --- auth ---------------------------------------------------------------------------------------


async def test_bearer_token_is_compared_in_constant_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("jina_clip.server.app.hmac.compare_digest", spy)
    app = create_app(FakeEncoder(), ServerSettings(api_key=SERVER_KEY))
    async with _asgi(app) as client:
        for header in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"},
                       {"Authorization": f"Bearer {SERVER_KEY}x"}, {"Authorization": SERVER_KEY}):
            response = await _embed(client, ["a"], **header)
            assert response.status_code == 401 and SERVER_KEY not in response.text
            assert response.headers["www-authenticate"] == "Bearer"
        ok = await _embed(client, ["a"], Authorization=f"Bearer {SERVER_KEY}")
        assert ok.status_code == 200
    assert (b"nope", SERVER_KEY.encode()) in compared
    assert (SERVER_KEY.encode(), SERVER_KEY.encode()) in compared


# --- malformed requests ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"{not json", b'{"model": "jina-clip-v1", "input": ["a"', b"", b"\xff\xfe",
    b"\xff\xfe\x00",
    b"[1, 2]", b'"a string"', b"null", b'{"model": "jina-clip-v1"}',
    b'{"model": "jina-clip-v1", "input": [{"text": 5}]}',
    b'{"model": "jina-clip-v1", "input": ["a"], "normalized": "maybe"}',
])
async def test_malformed_json_is_422_without_internals(body: bytes) -> None:
    async with _asgi(create_app(FakeEncoder(), ServerSettings())) as client:
        response = await client.post("/v1/embeddings", content=body,
                                     headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert set(response.json()) == {"detail", "code", "request_id"}
    for leak in ("Traceback", "File \"", "site-packages", "pydantic"):
        assert leak not in response.text


async def test_unexpected_errors_are_500_without_a_trace(caplog: pytest.LogCaptureFixture) -> None:
    async with _asgi(create_app(FakeEncoder(), ServerSettings())) as client:
        response = await _embed(client, ["BOOM"])
    assert response.status_code == 500
    assert "exploded" not in response.text and "Traceback" not in response.text
    assert response.json()["request_id"] in caplog.text  # the operator can find it in the log


async def test_server_log_has_no_traceback_unless_debug(caplog: pytest.LogCaptureFixture) -> None:
    """At the default level the log names the request and the error type only (a traceback
    can quote request data); at DEBUG the operator gets the traceback."""
    caplog.set_level(logging.INFO, logger="jina_clip.server")
    async with _asgi(create_app(FakeEncoder(), ServerSettings())) as client:
        await _embed(client, ["BOOM"])
    lines = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert len(lines) == 1 and not lines[0].exc_info and "Traceback" not in caplog.text
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="jina_clip.server")
    async with _asgi(create_app(FakeEncoder(), ServerSettings())) as client:
        await _embed(client, ["BOOM"])
    assert "Traceback" in caplog.text


# --- secrets: logs, reprs, serialized configs, exceptions ---------------------------------------


def _assert_no_secret(*texts: object) -> None:
    for text in texts:
        for key in (SERVER_KEY, CLIENT_KEY):
            assert key not in str(text), f"{key} leaked into {str(text)[:200]!r}"


def _chain(error: BaseException) -> list[object]:
    """The exception, its cause/context chain, args, attributes and API body, as things to
    search; an httpx error's request and response are searched with their headers (where the
    key travels: their reprs hide them)."""
    out: list[object] = []
    seen: BaseException | None = error
    while seen is not None:
        out += [seen, repr(seen), seen.args, getattr(seen, "body", None), vars(seen)]
        out += [dict(value.headers) for value in vars(seen).values()
                if isinstance(value, (httpx.Request, httpx.Response))]
        seen = seen.__cause__ or seen.__context__
    return out


def test_keys_never_reach_logs_or_exceptions(caplog: pytest.LogCaptureFixture,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(FakeEncoder(), ServerSettings(api_key=SecretStr(SERVER_KEY),
                                                   served_model_name="fake-clip"))
    errors: list[BaseException] = []
    with ServerThread(app, log_level="debug") as root:
        url = f"{root}/v1"
        with JinaCLIP.remote("jina-clip-v1", base_url=url, api_key=CLIENT_KEY,
                             max_retries=0) as wrong, pytest.raises(AuthenticationError) as info:
            wrong.encode_text(["a"])
        errors.append(info.value)
        with JinaCLIP.remote("fake-clip", base_url=url, api_key=SERVER_KEY,
                             max_retries=1, backoff_base=0.01) as right:
            assert right.encode_text(["a", "b"]).shape == (2, 16)
            with pytest.raises(ServerError) as info:  # a 500, retried once (logged)
                right.encode_text(["BOOM"])
            errors.append(info.value)
            _assert_no_secret(repr(right), str(right), vars(right).get("_api_key"))
    with JinaCLIP.remote("jina-clip-v1", base_url="http://127.0.0.1:9", api_key=CLIENT_KEY,
                         max_retries=0, timeout=2) as offline, pytest.raises(
        APIConnectionError
    ) as info:
        offline.encode_text(["a"])
    errors.append(info.value)
    for error in errors:
        _assert_no_secret(*_chain(error))
        assert "Traceback" not in str(error)
    assert "giving up" in caplog.text  # the client logged the failed, retried request
    assert "unhandled error" in caplog.text  # and the server its 500
    _assert_no_secret(caplog.text, *[r.args for r in caplog.records])
    _assert_no_secret(*capfd.readouterr())


_API = {"api_key": CLIENT_KEY, "base_url": "http://127.0.0.1:9/v1"}

#: name -> render one object that holds a key (built inside: nothing is shared)
RENDERINGS: dict[str, Callable[[], object]] = {
    "settings repr": lambda: repr(JinaCLIPSettings(**_API)),
    "settings str": lambda: str(JinaCLIPSettings(**_API)),
    "settings json": lambda: JinaCLIPSettings(**_API).model_dump_json(),
    "settings dump json mode": lambda: JinaCLIPSettings(**_API).model_dump(mode="json"),
    "remote encoder repr": lambda: repr(JinaCLIPSettings(**_API).build()),
    "langchain repr": lambda: repr(JinaCLIPEmbeddings(**_API)),
    "langchain json": lambda: JinaCLIPEmbeddings(**_API).model_dump_json(),
    "langchain dump json mode": lambda: JinaCLIPEmbeddings(**_API).model_dump(mode="json"),
    "llamaindex repr": lambda: repr(JinaCLIPEmbedding(**_API)),
    "llamaindex to_json": lambda: JinaCLIPEmbedding(**_API).to_json(),
    "llamaindex to_dict": lambda: JinaCLIPEmbedding(**_API).to_dict(),
    "server settings repr": lambda: repr(ServerSettings(api_key=SERVER_KEY)),
    "server settings json": lambda: ServerSettings(api_key=SERVER_KEY).model_dump_json(),
}


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_keys_never_in_reprs_or_serialized_configs(name: str) -> None:
    text = str(RENDERINGS[name]())
    _assert_no_secret(text)
    if "json" in name or "dict" in name:  # redacted ("**********") or left out
        assert "**********" in text or "api_key" not in text


def test_key_survives_where_it_must() -> None:
    """The key is kept (as a SecretStr) for the requests themselves and for pickles sent to
    worker processes: redaction must not break authentication."""
    settings = JinaCLIPSettings(**_API)
    assert isinstance(settings.api_key, SecretStr)
    assert settings.api_key.get_secret_value() == CLIENT_KEY
    clone = pickle.loads(pickle.dumps(JinaCLIPEmbedding(**_API)))
    assert clone.api_key is not None and clone.api_key.get_secret_value() == CLIENT_KEY
    _assert_no_secret(repr(clone))


# --- no pickles, no remote code -----------------------------------------------------------------


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if anything unpickles (torch.load, pickle.load / loads)."""
    import torch

    calls: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} called while loading a checkpoint")
        return call

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    return calls


def test_pickle_weights_are_refused_never_loaded(tiny_checkpoint: pathlib.Path,
                                                 tmp_path: pathlib.Path,
                                                 no_unpickling: list[str]) -> None:
    directory = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, directory)
    (directory / "model.safetensors").rename(directory / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        JinaCLIP.local(str(directory), device="cpu")
    assert no_unpickling == []


def test_remote_code_in_a_checkpoint_is_never_imported(tiny_checkpoint: pathlib.Path,
                                                       tmp_path: pathlib.Path,
                                                       no_unpickling: list[str]) -> None:
    """config.json's auto_map points at a module that would leave a marker if imported."""
    directory = tmp_path / "with-code"
    shutil.copytree(tiny_checkpoint, directory)
    marker = tmp_path / "remote-code-ran"
    (directory / "modeling_evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    config = json.loads((directory / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.JinaCLIPModel",
                          "AutoConfig": "modeling_evil.JinaCLIPConfig"}
    (directory / "config.json").write_text(json.dumps(config))
    with JinaCLIP.local(str(directory), device="cpu") as clip:
        assert clip.encode_text(["still works"]).shape == (1, clip.dimension)
    assert not marker.exists() and "modeling_evil" not in sys.modules
    assert no_unpickling == []


def test_hub_downloads_only_data_files() -> None:
    assert all(name.endswith((".json", ".safetensors", ".txt")) for name in CHECKPOINT_FILES)


_FORBIDDEN = re.compile(
    r"torch\.load\(|pickle\.loads?\(|import pickle|from pickle|trust_remote_code\s*=\s*True"
    r"|(?<![.\w])eval\(|(?<![.\w])exec\(|importlib\.import_module\(\s*(config|cfg)"
)


def test_no_code_path_unpickles_or_runs_remote_code() -> None:
    sources = sorted((ROOT / "packages").rglob("*.py"))
    assert len(sources) > 20
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sources
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if _FORBIDDEN.search(line) and not line.lstrip().startswith("#")]
    assert offenders == []
