"""The native library (model/native.py): compiled once into the cache, rebuilt when the cached
file is damaged, on torch's OpenMP runtime, and with the AVX512-BF16 / VNNI instructions only
inside the functions that are called on CPUs that have them."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from jina_clip.model import native


@pytest.fixture
def built_library() -> native.NativeLibrary:
    if not native.cpu_supported():
        pytest.skip("this CPU has no AVX-512")
    found = native.library()
    assert found is not None, "the native library did not build on a CPU that can run it"
    return found


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    """:func:`native.library` forgotten before and after the test, with an empty cache."""
    monkeypatch.setenv("JINA_CLIP_CACHE", str(tmp_path))
    native.library.cache_clear()
    yield tmp_path / "native"
    native.library.cache_clear()


@pytest.mark.usefixtures("built_library")
def test_built_once_into_the_cache(fresh_cache: pathlib.Path) -> None:
    assert native.library() is not None
    [built] = fresh_cache.glob("jina_clip_native-*.so")
    stamp = built.stat().st_mtime_ns
    native.library.cache_clear()
    assert native.library() is not None
    assert built.stat().st_mtime_ns == stamp  # loaded, not compiled again
    assert not [p for p in os.listdir(fresh_cache) if p.startswith(".")]  # no temp left


@pytest.mark.usefixtures("built_library")
def test_a_damaged_cached_build_is_rebuilt(fresh_cache: pathlib.Path) -> None:
    assert native.library() is not None
    [built] = fresh_cache.glob("jina_clip_native-*.so")
    damaged = built.with_suffix(".tmp")
    damaged.write_bytes(b"not a shared library")
    os.replace(damaged, built)  # a new file: the loaded one must not change under this process
    # a fresh process (this one would get its loaded copy back from the dynamic loader)
    probe = "from jina_clip.model import native; print(native.library() is not None)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True, env={**os.environ})
    assert done.stdout.strip() == "True"
    assert built.read_bytes()[:4] == b"\x7fELF"


def test_a_changed_header_is_a_new_build(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: pathlib.Path) -> None:
    """The sources include simd.h: editing only it must not load a stale cached build."""
    before = native._build_key("cc")
    header = tmp_path / "simd.h"
    header.write_bytes(native.HEADERS[0].read_bytes() + b"/* edited */\n")
    monkeypatch.setattr(native, "HEADERS", (header,))
    assert native._build_key("cc") != before


@pytest.mark.usefixtures("built_library")
@pytest.mark.parametrize("setting", [{"CC": "/bin/false"}, {"CC": "/no/such/cc"},
                                     {"JINA_CLIP_NATIVE": "0"}])
def test_unavailable_without_a_compiler_or_when_off(
    fresh_cache: pathlib.Path, monkeypatch: pytest.MonkeyPatch, setting: dict[str, str]
) -> None:
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    assert native.library() is None
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())  # nothing left behind


def test_optional_instructions_only_in_their_functions(
    built_library: native.NativeLibrary,
) -> None:
    """The library's baseline is AVX-512F; a CPU without AVX512-BF16 or VNNI (Skylake-X,
    Ice Lake has VNNI but no BF16) must never meet those instructions outside the bf16 and
    int8 entry points, which it never calls: each function names its own target."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("no objdump")
    path = native._build()  # the cached build (the one just loaded)
    listing = subprocess.run([objdump, "-d", path], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    where: dict[str, set[str]] = {}
    function = ""
    for line in listing.splitlines():
        if header := re.match(r"^[0-9a-f]+ <(.+)>:$", line):
            function = header.group(1)
        elif found := re.search(r"\b(vdpbf16ps|vcvtne2?ps2bf16|vpdpbusds?|vpdpwssds?)\b", line):
            where.setdefault(found.group(1), set()).add(function)
    bf16 = where.get("vdpbf16ps", set()) | where.get("vcvtneps2bf16", set())
    int8 = where.get("vpdpbusd", set())
    assert bf16 and int8, where  # the kernels are there, so the scan sees them
    # the naming rule of native/*.c: a function with bf16 (int8) instructions says so
    assert all("bf16" in f for f in bf16), bf16
    assert all("_s8" in f for f in int8), int8


def test_one_openmp_runtime(built_library: native.NativeLibrary) -> None:
    """The kernels' OpenMP is the one torch loaded (a second runtime would bring a second
    thread pool competing for the same cores)."""
    import torch  # noqa: F401  (torch's runtime first, as in every user process)

    with open("/proc/self/maps", encoding="utf-8") as maps:
        runtimes = {line.split()[-1] for line in maps if "libgomp" in line or "libomp" in line}
    assert len(runtimes) == 1, runtimes
