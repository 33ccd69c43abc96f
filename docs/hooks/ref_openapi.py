"""The server API reference: the real app's OpenAPI document, rendered as Markdown.

The app is built by the same ``create_app`` that ``jina-clip serve`` calls. Routes and schemas do
not depend on the encoder behind the app, so it fronts a remote encoder whose address is never
contacted (nothing is embedded): no model to load, no torch import, no network. The result is
the same document as with a local model (checked when this was written).

The document describes the server as configured, so it is built for a server started with an
API key: the page and ``openapi.json`` then show the bearer auth and the 401s. Every response
of every route declares its body; one that does not fails the build.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mdgen import cell, code, table

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


#: Never contacted: the encoder only has to exist; a known model name means no dimension probe.
_UNUSED_BASE_URL = "http://127.0.0.1:9/v1"
#: Only makes the app require a key (a SecretStr: it never appears in the document).
_PLACEHOLDER_KEY = "docs-build-placeholder"


def build_openapi(*, with_api_key: bool = True) -> dict[str, Any]:
    """``app.openapi()`` of the server app: default ``ServerSettings``, plus an API key unless
    ``with_api_key`` is false."""
    from jina_clip import JinaCLIP
    from jina_clip.server import ServerSettings, create_app

    settings = ServerSettings(api_key=_PLACEHOLDER_KEY if with_api_key else None)
    encoder = JinaCLIP.remote("jina-clip-v1", base_url=_UNUSED_BASE_URL)
    try:
        app = create_app(encoder, settings)
        try:
            return app.openapi()
        finally:  # the lifespan never ran: release the app's pools and batchers here
            asyncio.run(app.state.server.aclose())
    finally:
        encoder.close()


def openapi_json(spec: dict[str, Any]) -> str:
    """The document as published next to the page (stable key order, readable)."""
    return json.dumps(spec, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def anchor(name: str, prefix: str = "schema-") -> str:
    """The section id of a schema (``prefix`` keeps two renderings of one name apart)."""
    return prefix + name.lower()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def schema_type(schema: dict[str, Any], prefix: str = "schema-") -> str:
    """A one-line type for a JSON schema: refs become links to their section."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[`{name}`](#{anchor(name, prefix)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(schema_type(s, prefix) for s in schema[key])
    if "enum" in schema:
        return " or ".join(code(json.dumps(v)) for v in schema["enum"])
    if "const" in schema:
        return code(json.dumps(schema["const"]))
    kind = schema.get("type")
    if kind == "array":
        return "array of " + _grouped(schema_type(schema.get("items", {}), prefix))
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return "object of " + _grouped(schema_type(extra, prefix))
        return "object"
    if isinstance(kind, list):
        return " or ".join(code(k) for k in kind)
    return code(kind) if kind else "any JSON"


def _grouped(text: str) -> str:
    """Parentheses around an alternative, so "array of (a or b) or c" reads one way."""
    return f"({text})" if " or " in text else text


def _bounds(schema: dict[str, Any]) -> str:
    names = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<",
             "minLength": "min length", "maxLength": "max length", "minItems": "min items",
             "maxItems": "max items"}
    found = [f"{symbol} {schema[key]:g}" if isinstance(schema[key], float) else
             f"{symbol} {schema[key]}" for key, symbol in names.items() if key in schema]
    for option in schema.get("anyOf", []):
        found.append(_bounds(option))
    return ", ".join(f for f in found if f)


def schema_section(name: str, schema: dict[str, Any], prefix: str = "schema-") -> str:
    """One schema: its description and a table of its properties."""
    lines = [f"### `{name}` {{#{anchor(name, prefix)}}}", ""]
    if schema.get("description"):
        lines += [cell(schema["description"]), ""]
    props = schema.get("properties")
    if not props:
        lines.append(f"Type: {schema_type(schema, prefix)}.")
        return "\n".join(lines)
    required = set(schema.get("required", []))
    rows = []
    for prop, sub in props.items():
        default = code(json.dumps(sub["default"])) if "default" in sub else ""
        notes = [n for n in (_bounds(sub), cell(sub.get("description", ""))) if n]
        rows.append([code(prop), schema_type(sub, prefix), "yes" if prop in required else "",
                     default, "; ".join(notes)])
    lines.append(table(["field", "type", "required", "default", "notes"], rows))
    extra = schema.get("additionalProperties")
    if extra is False:
        lines += ["", "No other fields are accepted."]
    elif extra is True:
        lines += ["", "Other fields are accepted and ignored."]
    return "\n".join(lines)


def _body_schema(content: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON body's schema (or the text one's: ``/metrics`` answers Prometheus text)."""
    media = content.get("application/json") or content.get("text/plain")
    return media.get("schema") if media else None


def _response_rows(where: str, responses: dict[str, Any]) -> list[list[str]]:
    rows = []
    for status, response in responses.items():
        schema = _body_schema(response.get("content", {}))
        if not schema:  # every answer of this server has a body: the route must say which
            raise ValueError(f"{where}: response {status} declares no JSON body schema")
        headers = ", ".join(code(h) for h in response.get("headers", {}))
        rows.append([code(status), cell(response.get("description", "")), schema_type(schema),
                     headers])
    return rows


def _auth_line(op: dict[str, Any], schemes: dict[str, Any]) -> str:
    """Who may call the operation, from its security requirement."""
    names = [name for requirement in op.get("security", []) for name in requirement]
    if not names:
        return "Auth: none."
    kinds = [schemes.get(n, {}) for n in names]
    if all(k.get("type") == "http" and k.get("scheme") == "bearer" for k in kinds):
        return "Auth: `Authorization: Bearer <key>` (" + ", ".join(code(n) for n in names) + ")."
    return "Auth: " + ", ".join(code(n) for n in names) + "."


def endpoint_section(path: str, method: str, op: dict[str, Any],
                     schemes: dict[str, Any] | None = None) -> str:
    """One operation: summary, description, auth, request body, responses."""
    lines = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        lines += [f"**{cell(op['summary'])}.**", ""]
    if op.get("description"):
        lines += [cell(op["description"]), ""]
    lines += [_auth_line(op, schemes or {}), ""]
    body = op.get("requestBody")
    if body:
        schema = _body_schema(body.get("content", {})) or {}
        need = "required" if body.get("required") else "optional"
        lines += [f"Request body ({need}, JSON): {schema_type(schema)}.", ""]
    for param in op.get("parameters", []):
        lines.append(f"- parameter {code(param['name'])} in {param['in']}: "
                     f"{schema_type(param.get('schema', {}))}")
    lines.append(table(["status", "meaning", "body", "headers"],
                       _response_rows(f"{method.upper()} {path}", op.get("responses", {}))))
    return "\n".join(lines)


def _auth_markdown(spec: dict[str, Any]) -> str:
    """The document's security schemes, and what a server without an API key changes."""
    schemes = spec.get("components", {}).get("securitySchemes", {})
    if not schemes:
        return ("This document is of a server started without an API key: no route needs "
                "authentication.")
    parts = [f"{code(name)} ({scheme.get('type', '?')} {scheme.get('scheme', '')}".rstrip()
             + ")" + (f": {cell(scheme['description'])}" if scheme.get("description") else "")
             for name, scheme in schemes.items()]
    return ("This document is of a server started with an API key; security schemes: "
            + "; ".join(p.rstrip(".") for p in parts) + ". Each operation below names its "
            "auth. A server started without a key has no security requirement and never "
            "answers 401.")


def endpoints_markdown(spec: dict[str, Any]) -> str:
    """Summary table, one section per operation, then every component schema."""
    ops = [(path, method, op) for path, item in spec.get("paths", {}).items()
           for method, op in item.items() if method in HTTP_METHODS]
    info = spec.get("info", {})
    schemes = spec.get("components", {}).get("securitySchemes", {})
    lines = [f"{info.get('title', 'API')} {info.get('version', '')}, OpenAPI "
             f"{spec.get('openapi', '?')}.", ""]
    if info.get("description"):
        lines += [cell(info["description"]), ""]
    lines += [_auth_markdown(spec), "",
             table(["method", "path", "summary"],
                   [[code(m.upper()), code(p), cell(op.get("summary", ""))] for p, m, op in ops]),
             "", "## Endpoints", ""]
    for path, method, op in ops:
        lines += [endpoint_section(path, method, op, schemes), ""]
    lines += ["## Schemas in the OpenAPI document", ""]
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        lines += [schema_section(name, schema), ""]
    return "\n".join(lines)


def models_markdown(models: list[type[Any]]) -> str:
    """Pydantic models rendered like the OpenAPI schemas (the shared wire models as the
    ``JinaCLIP.remote`` client reads them: it also accepts what Jina's hosted API sends)."""
    from pydantic.json_schema import models_json_schema

    _, defs = models_json_schema([(m, "serialization") for m in models],
                                 ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})
    return "\n\n".join(schema_section(name, schemas[name], prefix="wire-") for name in schemas)
