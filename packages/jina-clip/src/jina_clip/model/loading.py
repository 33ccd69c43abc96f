"""Strict safetensors loading: every checkpoint tensor must match a model tensor exactly."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import torch

from ..errors import CheckpointMismatchError, ModelLoadError

__all__ = ["SafetensorsReader", "check_shapes"]


_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


class SafetensorsReader:
    """Reads a safetensors file one tensor at a time with plain reads (no mmap), so that a
    loader converting tensors as it goes never holds the whole file in memory besides the
    model (mmap'd pages would count towards the process's RSS until the file is closed)."""

    def __init__(self, path: pathlib.Path) -> None:
        import json
        import struct

        self.path = path
        if not path.is_file():
            raise ModelLoadError(f"{path} not found")
        try:
            self._file = path.open("rb")
            size = path.stat().st_size
            (header_len,) = struct.unpack("<Q", self._file.read(8))
            if header_len > min(size - 8, 100_000_000):
                raise ValueError("header length out of range")
            header = json.loads(self._file.read(header_len))
        except (OSError, ValueError, struct.error) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        header.pop("__metadata__", None)
        self._base = 8 + header_len
        self.entries: dict[str, tuple[torch.dtype, tuple[int, ...], int, int]] = {}
        for name, info in header.items():
            try:
                dtype = _DTYPES[info["dtype"]]
                shape = tuple(int(n) for n in info["shape"])
                start, end = (int(n) for n in info["data_offsets"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelLoadError(f"cannot read {path}: bad entry {name!r}") from exc
            count = 1
            for n in shape:
                count *= n
            if end - start != count * dtype.itemsize or start < 0 or self._base + end > size:
                raise ModelLoadError(f"cannot read {path}: entry {name!r} is out of bounds")
            self.entries[name] = (dtype, shape, start, end)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: entry[1] for name, entry in self.entries.items()}

    def tensor(self, name: str) -> torch.Tensor:
        dtype, shape, start, end = self.entries[name]
        buffer = bytearray(end - start)
        try:
            self._file.seek(self._base + start)
            if self._file.readinto(buffer) != len(buffer):
                raise OSError("file ended early")
        except OSError as exc:
            raise ModelLoadError(f"cannot read {self.path}: {exc}") from exc
        if not buffer:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(buffer, dtype=dtype).reshape(shape)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SafetensorsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_shapes(
    expected: Mapping[str, tuple[int, ...]], got: Mapping[str, tuple[int, ...]], *, source: str
) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``got`` has exactly ``expected``'s keys,
    each with the expected shape."""
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    mismatched = sorted(
        (k, expected[k], got[k]) for k in expected.keys() & got.keys() if expected[k] != got[k]
    )
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(
            missing=missing, unexpected=unexpected, mismatched=mismatched, source=source
        )
