"""Batching: item cap, byte cap, order, nothing lost or duplicated, concurrency cap."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json

import numpy as np
import pytest

from jina_clip.errors import ImageTooLargeError, ServerError, TextInputError
from jina_clip.remote.batching import plan_requests

from .fake_jina_api import Echo, Reply, expected, png_bytes


def _sent_items(api) -> list[dict]:
    return [item for r in api.requests for item in r.json["input"]]


def test_item_cap_splits_in_order(api, make_encoder, twin):
    texts = [f"sentence {i}" for i in range(10)]
    result = twin(make_encoder(batch_size=3), "encode_text", texts)
    assert sorted(len(r.json["input"]) for r in api.requests) == [1, 3, 3, 3]
    items = [{"text": t} for t in texts]
    assert sorted(_sent_items(api), key=lambda i: int(i["text"].split()[1])) == items
    np.testing.assert_allclose(result, expected(items, 768), atol=1e-6)
    for request in api.requests:
        body = request.json
        assert body["model"] == "jina-clip-v1"
        assert body["normalized"] is True and body["embedding_type"] == "base64"
        assert body["truncate"] is True  # the default (truncate=None) lets the API cut
        assert "task" not in body and "dimensions" not in body


def test_per_call_batch_size_overrides(api, make_encoder, twin):
    twin(make_encoder(batch_size=3), "encode_text", ["a", "b", "c", "d"], batch_size=4)
    assert len(api.requests) == 1


def test_default_caps(api, make_encoder, twin):
    twin(make_encoder(), "encode_text", [str(i) for i in range(300)])
    assert sorted(len(r.json["input"]) for r in api.requests) == [44, 128, 128]


def test_byte_cap_splits_and_every_body_fits(api, make_encoder, twin):
    texts = [f"{i:04d} " + "x" * 300 for i in range(40)]
    encoder = make_encoder(max_request_bytes=2048, batch_size=100)
    result = twin(encoder, "encode_text", texts)
    assert len(api.requests) > 5
    assert all(len(r.body) <= 2048 for r in api.requests)
    items = [{"text": t} for t in texts]
    assert sorted(_sent_items(api), key=lambda i: i["text"]) == items  # each exactly once
    np.testing.assert_allclose(result, expected(items, 768), atol=1e-6)


def test_oversized_text_is_refused_before_sending(api, make_encoder, twin):
    with pytest.raises(TextInputError) as info:
        twin(make_encoder(max_request_bytes=2048), "encode_text", ["ok", "y" * 5000])
    assert info.value.index == 1
    assert api.requests == []


def test_oversized_image_is_refused_before_sending(api, make_encoder, twin):
    images = [png_bytes(), png_bytes(64, 64, noise=True)]
    with pytest.raises(ImageTooLargeError) as info:
        twin(make_encoder(max_request_bytes=2048), "encode_image", images)
    assert info.value.index == 1 and "max_request_bytes" in str(info.value)
    assert api.requests == []


def test_images_are_sent_as_image_items(api, make_encoder, twin):
    url = "https://example.com/cat.jpg"
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes(seed=1)).decode()
    raw = png_bytes(seed=2)
    result = twin(make_encoder(), "encode_image", [url, data_uri, raw])
    assert result.shape == (3, 768)
    (request,) = api.requests
    items = request.json["input"]
    assert [list(i) for i in items] == [["image"]] * 3
    assert items[0] == {"image": url}
    assert items[1] == {"image": data_uri}
    assert base64.b64decode(items[2]["image"].split(",")[-1]) == raw
    np.testing.assert_allclose(result[0], expected([items[0]], 768)[0], atol=1e-6)
    assert "task" not in request.json


def test_image_default_batch_is_smaller(api, make_encoder, twin):
    twin(make_encoder(), "encode_image", [f"https://example.com/{i}.jpg" for i in range(20)])
    assert sorted(len(r.json["input"]) for r in api.requests) == [4, 16]


@pytest.mark.parametrize("limit", [1, 3])
def test_concurrency_never_exceeds_the_cap(api, make_encoder, twin, limit):
    api.default = Echo(delay=0.05)
    texts = [f"t{i}" for i in range(24)]
    result = twin(make_encoder(max_concurrency=limit, batch_size=2), "encode_text", texts)
    assert len(api.requests) == 12
    assert api.max_in_flight == limit  # reached, never exceeded
    np.testing.assert_allclose(result, expected([{"text": t} for t in texts], 768), atol=1e-6)


def test_failure_stops_the_remaining_requests(api, make_encoder, twin):
    api.queue(Reply(500, json={"detail": "x"}))
    api.default = Echo(delay=0.02)
    encoder = make_encoder(max_concurrency=2, batch_size=1, max_retries=0)
    with pytest.raises(ServerError):
        twin(encoder, "encode_text", [f"t{i}" for i in range(50)])
    assert len(api.requests) < 10


async def test_concurrent_async_calls_share_one_client(api, make_encoder):
    encoder = make_encoder(batch_size=2)
    results = await asyncio.gather(*(encoder.aencode_text([f"{k}-{i}" for i in range(5)])
                                     for k in range(4)))
    for k, result in enumerate(results):
        items = [{"text": f"{k}-{i}"} for i in range(5)]
        np.testing.assert_allclose(result, expected(items, 768), atol=1e-6)
    assert len(api.requests) == 12


# --- the planner alone ------------------------------------------------------------------------


def _too_large(index: int, size: int) -> Exception:
    return ValueError(f"{index}:{size}")


def test_plan_requests_covers_everything_once():
    sizes = [10, 50, 20, 20, 90, 5, 5, 5]
    slices = plan_requests(sizes, max_items=3, max_bytes=120, overhead=20, too_large=_too_large)
    assert slices[0][0] == 0 and slices[-1][1] == len(sizes)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))
    for start, end in slices:
        assert end - start <= 3
        assert 20 + sum(sizes[start:end]) + (end - start - 1) <= 120


def test_plan_requests_rejects_oversized_item():
    with pytest.raises(ValueError, match="1:200"):
        plan_requests([1, 200], max_items=3, max_bytes=120, overhead=20, too_large=_too_large)
    assert plan_requests([], max_items=3, max_bytes=99, overhead=2, too_large=_too_large) == []


def test_envelope_overhead_is_exact():
    from jina_clip.remote.protocol import Envelope, text_item

    envelope = Envelope("jina-clip-v2", task="retrieval.query", dimensions=64, normalized=True,
                        truncate=True)
    items = [text_item("héllo"), text_item('quote " and \\')]
    body = envelope.body(items)
    assert len(body) == envelope.overhead + sum(map(len, items)) + 1
    assert json.loads(body) == {
        "model": "jina-clip-v2", "task": "retrieval.query", "dimensions": 64,
        "normalized": True, "embedding_type": "base64", "truncate": True,
        "input": [{"text": "héllo"}, {"text": 'quote " and \\'}],
    }


def test_concurrent_sync_calls_share_the_cap(api, make_encoder):
    from concurrent.futures import ThreadPoolExecutor

    api.default = Echo(delay=0.03)
    encoder = make_encoder(max_concurrency=3, batch_size=1)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: encoder.encode_text([f"{k}-{i}" for i in range(6)]),
                                range(4)))
    assert api.max_in_flight == 3
    for k, result in enumerate(results):
        items = [{"text": f"{k}-{i}"} for i in range(6)]
        np.testing.assert_allclose(result, expected(items, 768), atol=1e-6)


async def test_concurrent_async_calls_share_the_cap(api, make_encoder):
    api.default = Echo(delay=0.03)
    encoder = make_encoder(max_concurrency=3, batch_size=1)
    await asyncio.gather(*(encoder.aencode_text([f"{k}-{i}" for i in range(6)])
                           for k in range(4)))
    assert api.max_in_flight == 3


def test_bad_per_call_batch_size(api, make_encoder):
    for bad in (0, 2049):
        with pytest.raises(ValueError, match="batch_size"):
            make_encoder().encode_text(["a"], batch_size=bad)
    assert api.requests == []
