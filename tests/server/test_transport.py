"""The guarded transports: connections go only to addresses the guard approved at connect time.

Everything runs against servers on 127.0.0.1 that count every TCP connection they accept; names
are answered by fake resolvers, and the ``loopback_only`` fixture makes any real DNS lookup or
non-loopback connect fail, so a broken guard fails a test instead of sending traffic anywhere.
"""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from jina_clip.errors import ImageFetchError, UnsafeURLError
from jina_clip.images import UrlFetcher
from jina_clip.server.guard import AddressGuard
from jina_clip.server.transport import (
    GuardedTransport,
    guarded_fetcher,
)

from .conftest import PUBLIC, png_bytes

pytestmark = pytest.mark.usefixtures("loopback_only")

PNG = png_bytes()


class Resolver:
    """Fake DNS: ``answers[host]`` is a list of answers, one per lookup (the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError(f"unknown host {host}")
        seq = self.answers[host]
        return seq[min(self.calls.count(host), len(seq)) - 1]


def rebinding(host: str) -> Resolver:
    """Public to the first lookup (the pre-check), loopback to every later one."""
    return Resolver({host: [[PUBLIC], ["127.0.0.1"]]})


@dataclass
class Recorder:
    """A loopback HTTP(S) server that records every accepted connection and request."""

    port: int = 0
    connections: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sni: list[str | None] = field(default_factory=list)


def _serve(rec: Recorder, tls: ssl.SSLContext | None = None) -> Iterator[Recorder]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            rec.requests.append((self.path, self.headers.get("Host", "")))
            if self.path.startswith("/redirect-to/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect-to/"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> Any:
            sock, addr = super().get_request()
            rec.connections += 1  # counted at accept(), before any byte is read
            if tls is not None:
                sock = tls.wrap_socket(sock, server_side=True)
            return sock, addr

    server = Server(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def target() -> Iterator[Recorder]:
    yield from _serve(Recorder())


# --- DNS rebinding --------------------------------------------------------------------------


def test_rebinding_never_reaches_the_private_address(target: Recorder) -> None:
    resolver = rebinding("rebind.test")
    fetcher = guarded_fetcher(AddressGuard(resolver=resolver))
    with fetcher, pytest.raises(ImageFetchError) as info:
        fetcher.fetch(f"http://rebind.test:{target.port}/img.png", index=2)
    assert info.value.index == 2
    assert isinstance(info.value.__cause__, UnsafeURLError)
    assert "127.0.0.1" in str(info.value)
    assert resolver.calls == ["rebind.test", "rebind.test"]  # pre-check, then connect time
    assert target.connections == 0 and target.requests == []


def test_rebinding_on_a_redirect_hop(target: Recorder) -> None:
    """Hop 1 goes to a stand-in "public" loopback server; hop 2's name rebinds to private."""
    resolver = Resolver({"cdn.test": [["127.0.0.1"]], "rebind.test": [[PUBLIC], ["127.0.0.2"]]})
    guard = LoopbackIsPublic(resolver=resolver)
    hop2 = f"http://rebind.test:{target.port}/img.png"
    with guarded_fetcher(guard) as fetcher, pytest.raises(ImageFetchError) as info:
        fetcher.fetch(f"http://cdn.test:{target.port}/redirect-to/{hop2}", index=0)
    assert "127.0.0.2" in str(info.value)
    assert target.requests == [(f"/redirect-to/{hop2}", f"cdn.test:{target.port}")]
    assert target.connections == 1  # only the approved first hop


class LoopbackIsPublic(AddressGuard):
    """Lets 127.0.0.1 (only) stand in for a public host, so a loopback server can play one."""

    def check_ip(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if str(ip) != "127.0.0.1":
            super().check_ip(ip)


# --- the transport alone (no url_guard pre-check) ---------------------------------------------


@pytest.mark.parametrize("host", [
    "evil.test", "mixed.test", "127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]",
    "localhost", "localhost.", "LOCALHOST", "app.localhost",
])
def test_transport_refuses_at_connect_time(target: Recorder, host: str) -> None:
    resolver = Resolver({"evil.test": [["127.0.0.1"]], "mixed.test": [[PUBLIC, "127.0.0.1"]],
                         "localhost": [[PUBLIC]], "localhost.": [[PUBLIC]]})
    transport = GuardedTransport(AddressGuard(resolver=resolver))
    client = httpx.Client(transport=transport, trust_env=False)
    with client, pytest.raises(UnsafeURLError):
        client.get(f"http://{host}:{target.port}/img.png")
    assert target.connections == 0


def test_unresolvable_name_is_refused_without_system_dns(loopback_only: list[str]) -> None:
    transport = GuardedTransport(AddressGuard(resolver=Resolver({})))
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeURLError, match="resol"):
        client.get("http://nowhere.test/")
    assert loopback_only == []  # the guard's resolver answered; the OS resolver was never asked


# --- what still works: allow_private, Host header, redirects, TLS -------------------------------


def test_connects_to_the_resolved_address_and_keeps_the_host_header(target: Recorder) -> None:
    resolver = Resolver({"images.test": [["127.0.0.1"]]})
    with guarded_fetcher(AddressGuard(resolver=resolver, allow_private=True)) as fetcher:
        assert fetcher.fetch(f"http://images.test:{target.port}/img.png", index=0) == PNG
        hop2 = f"http://images.test:{target.port}/img.png"
        assert fetcher.fetch(f"http://images.test:{target.port}/redirect-to/{hop2}",
                             index=0) == PNG
    assert target.requests[0] == ("/img.png", f"images.test:{target.port}")
    assert [host for _, host in target.requests] == [f"images.test:{target.port}"] * 3


def test_environment_proxy_is_not_used(target: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    with _serve_iter() as proxy:
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
        url = f"http://images.test:{target.port}/img.png"
        with UrlFetcher() as plain:  # control: a default client does go through the proxy
            plain.fetch(url, index=0)
        assert proxy.connections == 1
        guard = AddressGuard(resolver=Resolver({"images.test": [["127.0.0.1"]]}),
                             allow_private=True)
        with guarded_fetcher(guard) as fetcher:
            assert fetcher.fetch(url, index=0) == PNG
        assert proxy.connections == 1 and target.connections == 1


class _serve_iter:
    """``with _serve_iter() as rec``: a second recorder server inside one test."""

    def __enter__(self) -> Recorder:
        self._gen = _serve(Recorder())
        return next(self._gen)

    def __exit__(self, *exc: object) -> None:
        next(self._gen, None)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=images.test", "-addext", "subjectAltName=DNS:images.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_target(certificate: tuple[Path, Path]) -> Iterator[Recorder]:
    rec = Recorder()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda sock, name, ctx: rec.sni.append(name)  # type: ignore[assignment]
    yield from _serve(rec, tls=context)


def test_tls_verifies_the_hostname_not_the_ip(tls_target: Recorder,
                                              certificate: tuple[Path, Path]) -> None:
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    resolver = Resolver({"images.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    guard = AddressGuard(resolver=resolver, allow_private=True)
    with guarded_fetcher(guard, verify=trust) as fetcher:
        assert fetcher.fetch(f"https://images.test:{tls_target.port}/img.png", index=0) == PNG
        with pytest.raises(ImageFetchError, match=r"certificate|hostname"):
            fetcher.fetch(f"https://other.test:{tls_target.port}/img.png", index=0)
    assert tls_target.sni[:2] == ["images.test", "other.test"]
    assert tls_target.requests == [("/img.png", f"images.test:{tls_target.port}")]


def test_tls_default_trust_store_refuses_a_self_signed_certificate(tls_target: Recorder) -> None:
    guard = AddressGuard(resolver=Resolver({"images.test": [["127.0.0.1"]]}), allow_private=True)
    with guarded_fetcher(guard) as fetcher, pytest.raises(ImageFetchError, match="certificate"):
        fetcher.fetch(f"https://images.test:{tls_target.port}/img.png", index=0)
    assert tls_target.requests == []
