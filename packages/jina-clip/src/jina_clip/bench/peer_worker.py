"""One engine of ``jina-clip bench --peers``, bound to the run's inputs: in its own process
(the default; see :mod:`jina_clip.bench.worker_pipe`) or in the driver's (``in_process``).

    python -m jina_clip.bench.peer_worker ENGINE CHECKPOINT ONNX_DIR INPUTS_JSON

Requests (JSON lines): ``{"op": "time", "row": ROW}`` answers ``seconds``, the engine's call
alone (``perf_counter`` around it, nothing else); ``{"op": "vectors", "row": ROW, "path":
P}`` saves the row's vectors to ``P`` (``.npy``). The ready message lists the rows the
engine supports. ROW is ``images``, ``texts``, ``query`` or ``agree`` (the texts whose
vectors are compared with ours fp32).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .engines import Engine
from .peer_long import make_peer
from .worker_pipe import JsonWorker, serve

__all__ = ["EngineRows", "PeerInputs", "WorkerRows"]


@dataclass(frozen=True)
class PeerInputs:
    """Every engine's inputs, made once by the driver and handed to the workers as a file."""

    images: list[str]  # JPEG paths
    texts: list[str]
    query: list[str]
    agree: list[str]

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path) -> PeerInputs:
        return cls(**json.loads(path.read_text()))


class EngineRows:
    """An engine and the inputs: times one row's call, or returns its vectors."""

    def __init__(self, engine: Engine, inputs: PeerInputs) -> None:
        self.name, self._engine, self._inputs = engine.name, engine, inputs
        self.rows = ("texts", "query", "agree") if engine.encode_image is None else (
            "images", "texts", "query", "agree")

    def _call(self, row: str) -> Callable[[], np.ndarray]:
        if row not in self.rows:
            raise ValueError(f"{self.name} has no row {row!r} (it has {self.rows})")
        encode = self._engine.encode_image if row == "images" else self._engine.encode_text
        assert encode is not None
        items = getattr(self._inputs, row)
        return lambda: encode(items)

    def time(self, row: str) -> float:
        call = self._call(row)
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    def vectors(self, row: str) -> np.ndarray:
        return np.asarray(self._call(row)(), dtype=np.float32)

    def close(self) -> None:
        self._engine.close()


class WorkerRows:
    """:class:`EngineRows`' interface, served by a worker process (started by
    :meth:`start`, ready after :meth:`wait_ready`)."""

    def __init__(self, worker: JsonWorker, workdir: Path, call_timeout: float) -> None:
        self.name, self._worker, self._workdir = worker.name, worker, workdir
        self._timeout = call_timeout
        self.rows: tuple[str, ...] = ()

    @classmethod
    def start(cls, name: str, checkpoint: Path, onnx_dir: Path, inputs: Path, workdir: Path,
              call_timeout: float) -> WorkerRows:
        argv = ["-m", __name__, name, str(checkpoint), str(onnx_dir), str(inputs)]
        return cls(JsonWorker(name, argv, workdir / f"worker-{name}.log"), workdir,
                   call_timeout)

    def wait_ready(self, timeout: float) -> WorkerRows:
        self.rows = tuple(self._worker.receive(timeout)["rows"])
        return self

    def time(self, row: str) -> float:
        return float(self._worker.request(self._timeout, op="time", row=row)["seconds"])

    def vectors(self, row: str) -> np.ndarray:
        path = self._workdir / f"vectors-{self.name}-{row}.npy"
        self._worker.request(self._timeout, op="vectors", row=row, path=str(path))
        return np.load(path)

    def close(self) -> None:
        self._worker.close()


def main(argv: list[str]) -> None:
    name, checkpoint, onnx_dir, inputs = argv

    def start() -> tuple[dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]]]:
        rows = EngineRows(make_peer(name, Path(checkpoint), Path(onnx_dir)),
                          PeerInputs.load(Path(inputs)))

        def handle(request: dict[str, Any]) -> dict[str, Any]:
            if request["op"] == "time":
                return {"seconds": rows.time(request["row"])}
            if request["op"] == "vectors":
                np.save(request["path"], rows.vectors(request["row"]))
                return {}
            raise ValueError(f"unknown op {request['op']!r}")

        return {"rows": list(rows.rows)}, handle

    serve(start)


if __name__ == "__main__":
    main(sys.argv[1:])
