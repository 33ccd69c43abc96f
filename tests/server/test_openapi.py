"""The server's OpenAPI document says what the server does: every route's body and errors, the
auth as configured, a description on every field; and real answers validate against it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from jina_clip import wire
from jina_clip.server import ServerSettings, create_app
from jina_clip.server.openapi import BEARER_SCHEME

from ..conftest import TINY_API_MODEL
from .conftest import DIM, FakeEncoder, png_b64

MODEL = "jina-clip-v1"
ERROR_REF = "#/components/schemas/ErrorResponse"
EMBEDDINGS_ERRORS = {"400", "408", "413", "422", "500", "503"}
REQUEST_MODELS = (wire.EmbeddingRequest, wire.TextItem, wire.ImageItem, wire.LegacyUrlItem,
                  wire.LegacyBytesItem)
RESPONSE_MODELS = (wire.EmbeddingResponse, wire.EmbeddingData, wire.Usage, wire.ErrorBody)

Served = tuple[dict[str, Any], httpx.AsyncClient]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Served]]:
    """``serve(encoder=None, **settings) -> (app.openapi(), client)``; pools closed after."""
    apps: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    def make(encoder: FakeEncoder | None = None, **settings: Any) -> Served:
        app = create_app(encoder or FakeEncoder(), ServerSettings(**settings))
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver")
        clients.append(client)
        return app.openapi(), client

    yield make
    for client in clients:
        await client.aclose()
    for app in apps:
        await app.state.server.aclose()


def conforms(spec: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response's status is documented for the operation, its body validates against the
    documented schema, and it carries every documented header."""
    declared = spec["paths"][path][method]["responses"].get(str(response.status_code))
    assert declared is not None, (
        f"{method.upper()} {path} answered {response.status_code}, which the document omits")
    media = response.headers["content-type"].split(";")[0]
    assert media in declared["content"], (path, response.status_code, media)
    schema = declared["content"][media]["schema"]
    body = response.json() if media == "application/json" else response.text
    # Refs are "#/components/...": validate with the components in the same root document.
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)
    for header in declared.get("headers", {}):
        assert header.lower() in response.headers, (path, response.status_code, header)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items()]


async def test_every_route_declares_its_body_and_error_responses(serve: Any) -> None:
    spec, _ = serve()
    assert {(p, m) for p, m, _ in operations(spec)} == {
        ("/v1/embeddings", "post"), ("/v1/models", "get"), ("/health", "get"),
        ("/metrics", "get")}
    for path, _method, op in operations(spec):
        ok = op["responses"]["200"]
        if path == "/metrics":  # Prometheus text
            assert set(ok["content"]) == {"text/plain"}, ok
        else:
            assert ok["content"]["application/json"]["schema"]["$ref"].startswith(
                "#/components/schemas/"), path
        assert ok["description"] != "Successful Response", path  # says what the body is
        errors = {s for s in op["responses"] if s != "200"}
        assert errors == (EMBEDDINGS_ERRORS if path == "/v1/embeddings" else {"500"}), path
        for status in errors:
            response = op["responses"][status]
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
            assert response["description"].startswith("`"), (path, status)  # names its codes
        for response in op["responses"].values():
            assert "x-request-id" in response["headers"]
    post = spec["paths"]["/v1/embeddings"]["post"]
    assert post["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EmbeddingResponse"}
    assert post["responses"]["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    error = spec["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) == set(error["properties"]) == {"detail", "code",
                                                                   "request_id"}


async def test_fastapi_validation_error_schema_is_not_advertised(serve: Any) -> None:
    spec, _ = serve(api_key="k")
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text
    assert "Successful Response" not in text and "Validation Error" not in text


@pytest.mark.parametrize("api_key", [None, "s3cret"])
async def test_bearer_scheme_is_documented_iff_a_key_is_configured(
        serve: Any, api_key: str | None) -> None:
    spec, client = serve(api_key=api_key)
    schemes = spec["components"].get("securitySchemes", {})
    if api_key:
        assert schemes == {BEARER_SCHEME: {"type": "http", "scheme": "bearer",
                                           "description": schemes[BEARER_SCHEME]["description"]}}
    else:
        assert schemes == {}
    if api_key:
        assert api_key not in json.dumps(spec)  # the key itself never appears
    body = {"model": MODEL, "input": ["a"]}
    for path, method, op in operations(spec):
        secured = op.get("security") == [{BEARER_SCHEME: []}]
        assert secured == (api_key is not None and path != "/health"), path
        assert ("401" in op["responses"]) == secured, path
        # The document and the middleware agree: a request without a key gets 401 exactly
        # where the document asks for one.
        r = await client.request(method, path, json=body if method == "post" else None)
        assert (r.status_code == 401) == secured, (path, r.status_code)
        conforms(spec, path, method, r)
        if api_key:
            r = await client.request(method, path, json=body if method == "post" else None,
                                     headers={"Authorization": f"Bearer {api_key}"})
            assert r.status_code == 200, (path, r.text)
            conforms(spec, path, method, r)


async def test_real_answers_validate_against_the_document(serve: Any) -> None:
    spec, client = serve(max_body_bytes=4000)

    async def post(**fields: Any) -> httpx.Response:
        r = await client.post("/v1/embeddings", json={"model": MODEL, **fields})
        conforms(spec, "/v1/embeddings", "post", r)
        return r

    items = ["a text", {"text": "boxed"}, {"image": png_b64()}, {"bytes": png_b64()}]
    for kind in ("float", "base64", "binary", "ubinary", ["float", "base64", "ubinary"]):
        assert (await post(input=items, embedding_type=kind)).status_code == 200
    assert (await post(input="one", encoding_format="base64", dimensions=4)).status_code == 200
    # every error status the route can answer here, each in the documented body
    assert (await post(input=["a"], model="nope")).status_code == 400
    assert (await post(input=["x" * 5000])).status_code == 413
    assert (await post(input=[{"image": "not base64!"}])).status_code == 422  # invalid_input
    assert (await post(input=[{"nope": 1}])).status_code == 422  # validation_error
    assert (await post(input=["a"], dimensions=DIM + 1)).status_code == 422
    assert (await post(input=["BOOM"])).status_code == 500
    r = await client.post("/v1/embeddings", content=b"{not json",
                          headers={"content-type": "application/json"})
    conforms(spec, "/v1/embeddings", "post", r)
    assert r.status_code == 422
    for path in ("/v1/models", "/health"):
        r = await client.get(path)
        assert r.status_code == 200
        conforms(spec, path, "get", r)
    # unknown routes are in no operation; their body is still the documented error body
    r = await client.get("/v1/nothing")
    assert r.status_code == 404
    Draft202012Validator({"$ref": ERROR_REF, "components": spec["components"]}).validate(
        r.json())


async def test_a_real_503_carries_the_documented_body_and_retry_after(serve: Any) -> None:
    encoder = FakeEncoder(delay=1.0)  # the slack a loaded CI machine gets for the steps below
    spec, client = serve(encoder, max_batch_size=2, max_wait_ms=0, max_queue=3, retry_after_s=4)
    assert "`retry_after_s`, here 4" in (
        spec["paths"]["/v1/embeddings"]["post"]["responses"]["503"]["headers"]["Retry-After"]
        ["description"])

    def post(n: int) -> Any:
        return client.post("/v1/embeddings",
                           json={"model": MODEL, "input": [f"x{i}" for i in range(n)]})

    busy = asyncio.ensure_future(post(2))
    for _ in range(1000):  # until the model runs it: its 2 items have left the queue
        if encoder.text_calls:
            break
        await asyncio.sleep(0.01)
    assert encoder.text_calls, "the first request never reached the model"
    waiting = asyncio.ensure_future(post(3))  # fills the 3-item queue while the model is busy
    await asyncio.sleep(0.1)
    r = await post(1)
    assert r.status_code == 503 and r.headers["retry-after"] == "4", r.text
    assert r.json()["code"] == "queue_full"
    conforms(spec, "/v1/embeddings", "post", r)
    for done in (await busy, await waiting):
        assert done.status_code == 200
        conforms(spec, "/v1/embeddings", "post", done)


def test_every_server_setting_has_a_description_with_its_unit() -> None:
    units = {"_s": "Seconds", "_ms": "Milliseconds", "_bytes": "Bytes", "_pixels": "Pixels",
             "_tokens": "Tokens"}
    for name, field in ServerSettings.model_fields.items():
        assert field.description and len(field.description) > 15, name
        for suffix, unit in units.items():
            if name.endswith(suffix):
                assert field.description.startswith(unit), (name, field.description)


@pytest.mark.parametrize("model", REQUEST_MODELS + RESPONSE_MODELS, ids=lambda m: m.__name__)
def test_every_wire_field_has_a_description(model: Any) -> None:
    assert model.__doc__ and model.__doc__.strip()
    for name, field in model.model_fields.items():
        assert field.description and len(field.description) > 5, f"{model.__name__}.{name}"


async def test_every_schema_and_property_in_the_document_is_described(serve: Any) -> None:
    spec, _ = serve(api_key="k")
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("description"), name
        for prop, sub in schema.get("properties", {}).items():
            assert sub.get("description"), f"{name}.{prop}"
    for path, method, op in operations(spec):
        assert op.get("summary") and op.get("description"), (path, method)
        for status, response in op["responses"].items():
            assert response["description"], (path, status)


def test_the_served_document_matches_real_answers_over_http(api_server_url: str) -> None:
    """Over real HTTP (uvicorn, the tiny model): the document the server publishes at
    ``/openapi.json`` validates the 200 and the 422 it really sends."""
    root = api_server_url.removesuffix("/v1")
    with httpx.Client(base_url=root, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        assert "HTTPValidationError" not in json.dumps(spec)
        assert "securitySchemes" not in spec["components"]  # this server has no key
        ok = http.post("/v1/embeddings", json={"model": TINY_API_MODEL, "input": [
            "a photo of a cat", {"image": png_b64()}], "embedding_type": ["float", "binary"]})
        assert ok.status_code == 200, ok.text
        conforms(spec, "/v1/embeddings", "post", ok)
        bad = http.post("/v1/embeddings", json={"model": TINY_API_MODEL, "input": [
            "fine", {"image": "data:image/png;base64,AAAA"}]})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("input 1"), bad.text
        conforms(spec, "/v1/embeddings", "post", bad)
