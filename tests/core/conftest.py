"""Fixtures shared by the native-kernel tests."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from jina_clip.model import native


@pytest.fixture
def native_library() -> native.NativeLibrary:
    """The native kernels, or a skip where this machine cannot build or run them."""
    found = native.library()
    if found is None:
        pytest.skip("no native kernels on this machine (no AVX-512 or no C compiler)")
    return found


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch
                 ) -> Callable[[ModuleType, str], list[tuple[int, ...]]]:
    """``watch(module, name)``: wraps ``module.name`` (a kernel entry that returns a tensor, or
    ``None`` when it does not take the call) and returns the list the shapes of the calls it
    took are appended to."""

    def watch(module: ModuleType, name: str) -> list[tuple[int, ...]]:
        taken: list[tuple[int, ...]] = []
        real = getattr(module, name)

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            out = real(*args, **kwargs)
            if out is not None:
                taken.append(tuple(out.shape))
            return out

        monkeypatch.setattr(module, name, spy)
        return taken

    return watch
