"""A throwaway HTTP server on 127.0.0.1 for tests (the only address tests may talk to)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_http(
    handler: type[http.server.BaseHTTPRequestHandler] | None = None,
    *,
    directory: Path | str | None = None,
) -> Iterator[str]:
    """Serve ``handler`` (or the files of ``directory``) at ``http://127.0.0.1:PORT`` on a
    daemon thread; yields the base URL and shuts the server down afterwards."""
    if (handler is None) == (directory is None):
        raise ValueError("pass exactly one of handler or directory")
    factory: Any = handler or functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    server.daemon_threads = True  # a hung test client must not block shutdown
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
