"""LazyEncoder / LazyEncoderSettings: built once, dropped on change, never shared by copies."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from typing import Any

from jina_clip.lazy import LazyEncoder, LazyEncoderSettings


class Dummy:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_built_once_under_threads() -> None:
    lazy = LazyEncoder()
    calls = 0

    def build() -> Any:
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        return Dummy()

    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get(build))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1 and len({id(g) for g in got}) == 1 and lazy.built


async def test_aget_and_take() -> None:
    lazy = LazyEncoder()
    first = await lazy.aget(Dummy)  # type: ignore[arg-type]
    assert await lazy.aget(Dummy) is first  # type: ignore[arg-type]
    assert lazy.take() is first and not lazy.built and lazy.take() is None


def test_copies_and_pickles_start_empty() -> None:
    lazy = LazyEncoder()
    lazy.get(Dummy)  # type: ignore[arg-type]
    for clone in (copy.copy(lazy), copy.deepcopy(lazy), pickle.loads(pickle.dumps(lazy))):
        assert not clone.built


def test_settings_drop_encoder_on_change_and_close(monkeypatch: Any) -> None:
    built: list[Dummy] = []
    monkeypatch.setattr(
        LazyEncoderSettings, "build", lambda self: built.append(Dummy()) or built[-1]
    )
    settings = LazyEncoderSettings(model="x")
    assert not settings._lazy.built  # nothing built by construction
    first = settings.encoder
    assert settings.encoder is first
    settings.batch_size = 4  # a field changed: next access builds from the new settings
    assert settings.encoder is not first and len(built) == 2
    assert not settings.model_copy()._lazy.built
    with settings:
        pass
    assert built[-1].closed and not settings._lazy.built
