"""A benchmark worker in its own process, spoken to in JSON lines: one request on its stdin,
one answer on its stdout. Both ends are here.

Engines are measured each in its own process because runtimes' thread pools (torch's
OpenMP, OpenVINO's, ONNX Runtime's) keep spinning for a while after a call and steal the
cores from the next engine's call when they share a process. The driver never waits
forever: a worker that crashes, hangs or answers with an error raises :class:`WorkerError`
naming it, with the tail of its log. Workers die with the driver: at the end of their stdin
when it closes, and by ``PR_SET_PDEATHSIG`` (Linux) when it is killed mid-call.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["JsonWorker", "WorkerError", "serve"]

Message = dict[str, Any]


class WorkerError(RuntimeError):
    """A worker crashed, timed out, or could not do what it was asked."""


class JsonWorker:
    """Driver end: ``python ARGV...`` started now, its stderr written to ``log``."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self._log_path = name, log
        with open(log, "wb") as err:  # the child keeps its own copy of the descriptor
            self._proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=err, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True).start()

    def _read(self, out: IO[str]) -> None:
        for line in out:
            self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> Message:
        """The worker's next answer; :class:`WorkerError` if it is an error, if the worker
        has exited, or if none comes within ``timeout`` seconds (the worker is then killed)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerError(f"{self.name}: no answer within {timeout:g} s, worker killed"
                              f"{self._tail()}") from None
        if line is None:
            self._lines.put(None)  # for the next call too: the worker stays gone
            code = self._proc.wait()
            raise WorkerError(f"{self.name}: worker exited with code {code}{self._tail()}")
        try:
            answer: Message = json.loads(line)
        except ValueError:
            self.kill()
            raise WorkerError(f"{self.name}: not a JSON answer: {line[:200]!r}") from None
        if not answer.get("ok"):
            raise WorkerError(f"{self.name}: {answer.get('error', answer)}")
        return answer

    def request(self, timeout: float, **message: Any) -> Message:
        """Send ``message`` and return the answer (see :meth:`receive`)."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except OSError:  # the worker is gone; receive() says how it ended
            pass
        return self.receive(timeout)

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()

    def close(self, grace: float = 10) -> None:
        """Close its stdin (a worker's cue to exit), then kill it if it is still there."""
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(grace)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def _tail(self, chars: int = 3000) -> str:
        try:
            text = self._log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""
        return f"\n--- {self._log_path} (tail) ---\n{text}" if text.strip() else ""


def serve(start: Callable[[], tuple[Message, Callable[[Message], Message]]]) -> None:
    """Worker end: ``start()`` loads what the worker serves and returns its ready message and
    its request handler; then every stdin line is one request, answered on stdout. Anything
    else written to stdout (a library's print) goes to stderr, so it cannot break a line."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _die_with_parent()

    def send(message: Message) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    try:
        ready, handle = start()
    except Exception:
        send({"ok": False, "error": traceback.format_exc()})
        raise SystemExit(1) from None
    send({"ok": True, **ready})
    for line in sys.stdin:
        try:
            send({"ok": True, **handle(json.loads(line))})
        except Exception:
            send({"ok": False, "error": traceback.format_exc()})


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
