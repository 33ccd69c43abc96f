"""Fault injection for the tests, switched on by environment variables (read per batch, so a
subprocess and its Ray workers see them; unset, they cost one dictionary lookup).

* ``JINA_CLIP_EMBED_CRASH_ONCE=PATH``: an encoder actor that finds ``PATH`` missing creates it
  and exits mid-batch (``os._exit(1)``): one crash per marker file.
* ``JINA_CLIP_EMBED_SLOW_BATCH_S=SECONDS``: every encoded batch waits this long, so that a
  test can SIGKILL a run after its first shard and before its last, on any machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["CRASH_ONCE_ENV", "SLOW_BATCH_ENV", "maybe_crash", "maybe_slow_down"]

CRASH_ONCE_ENV = "JINA_CLIP_EMBED_CRASH_ONCE"
SLOW_BATCH_ENV = "JINA_CLIP_EMBED_SLOW_BATCH_S"


def maybe_crash() -> None:
    """Exit the process once per marker file when ``CRASH_ONCE_ENV`` is set."""
    marker = os.environ.get(CRASH_ONCE_ENV)
    if marker and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)


def maybe_slow_down() -> None:
    """Sleep ``SLOW_BATCH_ENV`` seconds when it is set."""
    delay = os.environ.get(SLOW_BATCH_ENV)
    if delay:
        time.sleep(float(delay))
