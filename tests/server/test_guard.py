"""The SSRF address guard, with a fake resolver: no DNS, no network."""

from __future__ import annotations

import pytest

from jina_clip.errors import UnsafeURLError
from jina_clip.server.guard import check_url, parse_ip_host

from .conftest import PUBLIC, fake_resolver

RESOLVER = fake_resolver({
    "images.example": [PUBLIC],
    "dual.example": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"],
    "rebind.example": [PUBLIC, "10.0.0.7"],
    "rebind6.example": ["2606:2800:220:1:248:1893:25c8:1946", "::1"],
    "internal.example": ["192.168.1.10"],
    "metadata.example": ["169.254.169.254"],
    "empty.example": [],
})


def check(url: str, **kw: object) -> None:
    check_url(url, resolver=RESOLVER, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "http://images.example/cat.png",
    "https://dual.example:8443/a.jpg?x=1",
    f"http://{PUBLIC}/x.png",
    "http://[2606:2800:220:1:248:1893:25c8:1946]/x.png",
    "http://8.8.8.8/x.png",
])
def test_public_addresses_allowed(url: str) -> None:
    check(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost.internal.example/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "http://224.0.0.1/",
    "http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.2.1/",
    "http://[::1]/", "http://[::]/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://[ff02::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/",
    "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://0x7f.1/",
    "http://127.1/", "http://017700000001/", "http://3232235777/",
    "http://internal.example/", "http://metadata.example/",
    "http://rebind.example/", "http://rebind6.example/",
    "http://user:pw@127.0.0.1:8080/x",
])
def test_non_public_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check(url)


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://images.example/a.png", "gopher://images.example/",
    "/etc/passwd", "http:///nohost", "http://[::1/", "javascript:alert(1)",
])
def test_bad_schemes_and_malformed(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check(url)


def test_unresolvable_and_empty() -> None:
    with pytest.raises(UnsafeURLError, match="resolve"):
        check("http://nowhere.example/")
    with pytest.raises(UnsafeURLError, match="no address"):
        check("http://empty.example/")


def test_allow_private_skips_address_checks_but_not_scheme() -> None:
    check("http://127.0.0.1:9/", allow_private=True)
    check("http://internal.example/", allow_private=True)
    with pytest.raises(UnsafeURLError):
        check("file:///etc/passwd", allow_private=True)


def test_resolver_not_called_for_ip_literals() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return [PUBLIC]

    with pytest.raises(UnsafeURLError):
        check_url("http://2130706433/", resolver=resolver)
    check_url("https://images.example/", resolver=resolver)
    assert calls == ["images.example"]


@pytest.mark.parametrize(("host", "ip"), [
    ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("0177.0.0.01", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("192.168.257", "192.168.1.1"), ("1.2.3.4", "1.2.3.4"),
    ("example.com", None), ("1.2.3.4.5", None), ("256.1.1.1", None), ("08.1.1.1", None),
])
def test_parse_ip_host(host: str, ip: str | None) -> None:
    got = parse_ip_host(host)
    assert (str(got) if got else None) == ip
