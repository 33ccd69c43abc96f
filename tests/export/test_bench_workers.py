"""``jina-clip bench --peers`` runs each engine in a worker process: a worker that hangs,
crashes or fails must surface as a clear error naming it (never a hang), and workers must
not outlive the driver."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

from jina_clip.bench.peers import PeerSizes, peer_table
from jina_clip.bench.worker_pipe import JsonWorker, WorkerError

pytestmark = pytest.mark.timeout(120)

#: A worker that answers ready, then handles requests with ``HANDLER`` (Python source).
SERVING = """
import os, sys, time
from jina_clip.bench.worker_pipe import serve
serve(lambda: ({{"pid": os.getpid()}}, lambda request: {handler}))
"""


def _worker(tmp_path: pathlib.Path, code: str) -> JsonWorker:
    return JsonWorker("probe", ["-c", code], tmp_path / "probe.log")


def test_a_silent_worker_times_out_and_is_killed(tmp_path: pathlib.Path) -> None:
    worker = _worker(tmp_path, "import time; time.sleep(600)")
    start = time.monotonic()
    with pytest.raises(WorkerError, match=r"probe: no answer within 1 s, worker killed"):
        worker.receive(timeout=1)
    assert time.monotonic() - start < 10
    assert worker._proc.poll() is not None  # killed, not left running


def test_a_hanging_call_times_out(tmp_path: pathlib.Path) -> None:
    worker = _worker(tmp_path, SERVING.format(handler="time.sleep(600)"))
    worker.receive(timeout=60)
    with pytest.raises(WorkerError, match="no answer within 1 s"):
        worker.request(1, op="time", row="texts")
    assert worker._proc.poll() is not None


def test_a_crash_reports_exit_code_and_log(tmp_path: pathlib.Path) -> None:
    worker = _worker(tmp_path, "import sys; print('model file is broken', file=sys.stderr); "
                               "sys.exit(3)")
    with pytest.raises(WorkerError, match=r"(?s)probe: worker exited with code 3.*broken"):
        worker.receive(timeout=60)


def test_a_crash_mid_call_is_reported(tmp_path: pathlib.Path) -> None:
    worker = _worker(tmp_path, SERVING.format(handler="os._exit(5)"))
    worker.receive(timeout=60)
    with pytest.raises(WorkerError, match="exited with code 5"):
        worker.request(60, op="time", row="texts")
    # asking again does not hang either
    with pytest.raises(WorkerError, match="exited with code 5"):
        worker.request(60, op="time", row="texts")


def test_an_error_in_a_call_is_reported_and_the_worker_goes_on(tmp_path: pathlib.Path) -> None:
    handler = "1 / 0 if request['op'] == 'bad' else {'seconds': 0.5}"
    worker = _worker(tmp_path, SERVING.format(handler=handler))
    worker.receive(timeout=60)
    with pytest.raises(WorkerError, match=r"(?s)probe: Traceback.*ZeroDivisionError"):
        worker.request(60, op="bad")
    assert worker.request(60, op="time")["seconds"] == 0.5
    worker.close()
    assert worker._proc.returncode == 0  # the end of its stdin ends it


def test_stray_prints_do_not_break_the_protocol(tmp_path: pathlib.Path) -> None:
    worker = _worker(tmp_path, SERVING.format(handler="print('noise') or {'x': 1}"))
    worker.receive(timeout=60)
    assert worker.request(60, op="any")["x"] == 1
    worker.close()
    assert "noise" in (tmp_path / "probe.log").read_text()


def test_workers_die_with_a_killed_driver(tmp_path: pathlib.Path) -> None:
    driver = textwrap.dedent(f"""
        import pathlib
        from jina_clip.bench.worker_pipe import JsonWorker
        code = {SERVING.format(handler="time.sleep(600)")!r}
        w = JsonWorker("probe", ["-c", code], pathlib.Path({str(tmp_path / "w.log")!r}))
        print(w.receive(60)["pid"], flush=True)
        w.request(600, op="time")  # hangs in the worker's call
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the worker outlived its driver"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) is dead for our purpose
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_worker_that_cannot_load_its_engine_fails_the_run_clearly(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(WorkerError, match=r"(?s)ours-fp64: .*unknown peer engine 'ours-fp64'"):
        peer_table(tiny_checkpoint, tmp_path, PeerSizes(files=1, texts=2, long_tokens=0),
                   engines=("ours-fp64",), echo=lambda _: None, onnx_dir=tmp_path)
