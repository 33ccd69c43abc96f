"""Run the app with uvicorn: in the foreground (``serve``) or on a background thread
(:class:`ServerThread`, used by tests, the benchmark and notebooks)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from fastapi import FastAPI

from ..base import JinaCLIP
from .config import ServerSettings
from .timeouts import header_timeout_protocol

__all__ = ["ServerThread", "build_encoder", "serve"]

log = logging.getLogger("jina_clip.server")


def build_encoder(settings: ServerSettings) -> JinaCLIP:
    """Load the local model the settings name. Texts over the limit are cut by the model only
    when a request asked for ``truncate``; the app refuses them before that otherwise."""
    return JinaCLIP.local(
        settings.model, device=settings.device, dtype=settings.dtype,
        batch_size=settings.max_batch_size, max_length=settings.max_text_tokens, truncate=True,
        normalize=False,
    )


def serve(settings: ServerSettings, encoder: JinaCLIP | None = None) -> None:
    """Load the model (unless given) and serve until interrupted."""
    import uvicorn

    from .app import create_app

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    own = encoder is None
    encoder = encoder or build_encoder(settings)
    log.info("serving %s as %r on http://%s:%d (auth %s, batching %s)", settings.model,
             settings.served_model_name, settings.host, settings.port,
             "on" if settings.api_key else "off",
             f"max {settings.max_batch_size} items / {settings.max_wait_ms} ms"
             if settings.batching else "off")
    try:
        uvicorn.run(create_app(encoder, settings), host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower(),
                    http=header_timeout_protocol(settings.header_timeout_s))
    finally:
        if own:
            encoder.close()


class ServerThread:
    """``with ServerThread(app) as url: ...``: uvicorn on 127.0.0.1 and a free port, on a
    daemon thread, shut down on exit. The socket is bound before the thread starts, so
    there is no race for the port. Connections whose headers take over ``header_timeout_s``
    are closed, as under ``serve``."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", *,
                 header_timeout_s: float = 10.0, **config: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config.setdefault("log_level", "warning")
        config.setdefault("http", header_timeout_protocol(header_timeout_s))
        self.server = uvicorn.Server(uvicorn.Config(app, **config))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
