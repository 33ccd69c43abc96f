"""Responses are validated before their vectors are trusted; a bad 2xx is not retried."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jina_clip.errors import ResponseValidationError

from .fake_jina_api import Echo, Reply, expected

TEXTS = [f"text number {i}" for i in range(6)]


def _bad(mutate) -> Echo:
    return Echo(mutate=mutate, headers={"x-request-id": "rid-bad"})


def _drop_one(resp):
    resp["data"].pop()
    return resp


def _duplicate(resp):
    resp["data"][1]["index"] = 0
    return resp


def _out_of_range(resp):
    resp["data"][0]["index"] = 99
    return resp


def _nan(resp):
    resp["data"][2]["embedding"] = [math.nan] * 768
    return resp


def _inf(resp):
    resp["data"][3]["embedding"] = [1.0] * 767 + [math.inf]
    return resp


def _short(resp):
    resp["data"][0]["embedding"] = resp["data"][0]["embedding"][:8]  # base64: bad length
    return resp


def _not_base64(resp):
    resp["data"][0]["embedding"] = "***"
    return resp


def _wrong_dim(resp):
    for entry in resp["data"]:
        entry["embedding"] = [0.5] * 512
    return resp


def _keyed_by_type(resp):
    entry = resp["data"][1]
    entry["embedding"] = {"base64": entry["embedding"]}  # only sent for several types
    return resp


def _no_data(resp):
    del resp["data"]
    return resp


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_drop_one, "sent 6 inputs, got 5"),
        (_duplicate, "appears twice"),
        (_out_of_range, "out of range"),
        (_nan, "embedding 2 has non-finite"),
        (_inf, "embedding 3 has non-finite"),
        (_short, "does not decode"),
        (_not_base64, "does not decode"),
        (_wrong_dim, "512 dimensions, expected 768"),
        (_no_data, "unexpected shape"),
        (_keyed_by_type, "embedding 1 does not decode: an object keyed by embedding type"),
    ],
)
def test_inconsistent_response_raises(api, make_encoder, twin, mutate, message):
    api.queue(_bad(mutate))
    with pytest.raises(ResponseValidationError) as info:
        twin(make_encoder(), "encode_text", TEXTS)
    assert message in str(info.value)
    assert info.value.request_id == "rid-bad"
    assert len(api.requests) == 1  # a 2xx is billed: never retried


def test_malformed_json_raises_and_is_not_retried(api, make_encoder, twin):
    api.queue(Reply(200, body=b'{"data": [', headers={"x-request-id": "rid-json"}))
    with pytest.raises(ResponseValidationError) as info:
        twin(make_encoder(), "encode_text", TEXTS)
    assert "not JSON" in str(info.value) and info.value.request_id == "rid-json"
    assert len(api.requests) == 1


def test_shuffled_indices_are_put_back_in_order(api, make_encoder, twin):
    api.queue(Echo(shuffle=True))
    result = twin(make_encoder(), "encode_text", TEXTS)
    np.testing.assert_allclose(result, expected([{"text": t} for t in TEXTS], 768), atol=1e-6)


def test_float_embeddings_are_accepted(api, make_encoder, twin):
    def to_floats(resp):
        import base64

        for entry in resp["data"]:
            raw = base64.b64decode(entry["embedding"])
            entry["embedding"] = np.frombuffer(raw, "<f4").tolist()
        return resp

    api.queue(Echo(mutate=to_floats))
    result = twin(make_encoder(), "encode_text", TEXTS)
    np.testing.assert_allclose(result, expected([{"text": t} for t in TEXTS], 768), atol=1e-6)


def test_one_bad_batch_fails_the_call(api, make_encoder, twin):
    api.queue(Echo(), _bad(_duplicate))
    with pytest.raises(ResponseValidationError):
        twin(make_encoder(batch_size=2, max_concurrency=1), "encode_text", TEXTS)
