"""`jina-clip serve` as a user starts it: a separate process on 127.0.0.1, with auth, queried
by the remote encoder, and stopped with SIGINT/SIGTERM like a terminal or a supervisor does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from jina_clip import AuthenticationError, JinaCLIP
from tests.serve_process import free_port

TOKEN = "local-test-token"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_subprocess_end_to_end(
    tiny_checkpoint: Path, core_encoder: JinaCLIP, stop_signal: int
) -> None:
    port = free_port()
    env = {**os.environ, "JINA_CLIP_SERVER_API_KEY": TOKEN, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jina_clip.cli", "serve", "--model", str(tiny_checkpoint),
         "--device", "cpu", "--host", "127.0.0.1", "--port", str(port),
         "--served-model-name", "jina-clip-tiny", "--log-level", "debug"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)

        texts = ["a bridge at dusk", "hello"]
        with JinaCLIP.remote("jina-clip-tiny", base_url=f"{base}/v1", api_key=TOKEN) as remote:
            got = remote.encode_text(texts)
        np.testing.assert_allclose(got, core_encoder.encode_text(texts), atol=1e-5)
        with (
            JinaCLIP.remote("jina-clip-tiny", base_url=f"{base}/v1", api_key="wrong") as remote,
            pytest.raises(AuthenticationError),
        ):
            remote.encode_text(texts)
    finally:
        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("server did not stop on the signal")
    output = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode in (0, 130, -stop_signal), output
    assert TOKEN not in output  # the bearer token is never logged, even at debug level
