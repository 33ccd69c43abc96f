"""``jina-clip serve`` in a subprocess on 127.0.0.1, as a user runs it: for the tests and the
benchmarks that need a real server process (its own GIL, its own memory, killable).

Test tooling, so it lives with the tests rather than in the runtime package: tests import
``tests.serve_process``; the scripts in ``benchmarks/`` put the checkout on ``sys.path`` first.

Output goes to a temporary file, not a pipe (a full pipe would block a chatty server); the
server reads no API key from the environment and, unless ``offline=False``, never touches
the hub (``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

__all__ = ["ServeProcess", "free_port"]


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``jina-clip serve --model MODEL`` on 127.0.0.1:``port`` (a free one by default). As a
    context manager it starts, waits for ``/health``, and stops on exit; :meth:`kill` and
    :meth:`start` restart it on the same port."""

    def __init__(self, model: Path | str, port: int | None = None, *, device: str = "cpu",
                 served_model_name: str = "jina-clip-v1", extra: Sequence[str] = (),
                 log_level: str = "warning", offline: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "jina_clip.cli", "serve", "--model", str(model),
                    "--device", device, "--host", "127.0.0.1", "--port", str(self.port),
                    "--served-model-name", served_model_name, "--log-level", log_level,
                    *extra]
        self.offline = offline
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 180.0) -> None:
        """Start and wait until ``/health`` answers (stopped again if it never does)."""
        env = {**os.environ, "HF_HUB_OFFLINE": "1"} if self.offline else dict(os.environ)
        env.pop("JINA_CLIP_SERVER_API_KEY", None)
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jina-clip serve exited with {self.proc.returncode}: "
                                   f"{self.output()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).is_success:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("jina-clip serve did not become healthy")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight requests lose their connection."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL if it hangs); safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def output(self) -> str:
        """Everything the server printed so far (all its runs)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def rss_mib(self) -> float:
        """The server's resident memory now, from /proc (Linux)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()
