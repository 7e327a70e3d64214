"""Server-side request forgery guard: pipeline sources reach public addresses only, unless allowed.

Checked after DNS resolution when a pipeline is saved (check_url), and as every connection opens,
for the first request and every redirect: the client connects only to addresses it vetted then
(PinnedBackend), so the check and the connection cannot see different DNS answers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import SplitResult

import httpcore

from services.errors import invalid
from services.urls import check_web_url


def parse_allow_list(text: str) -> list[str]:
    return [item.strip().lower() for item in text.split(",") if item.strip()]


def _allowed(host: str, address: ipaddress._BaseAddress, allow: list[str]) -> bool:
    for entry in allow:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url(url: str, allow: list[str], field: list[str] | None = None) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to loopback, private, link-local or other internal addresses."""
    parts = check_scheme(url, field)
    host = parts.hostname or ""  # never empty: check_scheme refused a URL without a host
    vetted_addresses(host, parts.port or (443 if parts.scheme == "https" else 80), allow, field)


def check_scheme(url: str, field: list[str] | None = None) -> SplitResult:
    """Refuse anything but an http(s) URL with a host (the addresses are vetted as the connection opens)."""
    return check_web_url(url, field or ["url"], "source URL")


def vetted_addresses(host: str, port: int, allow: list[str], field: list[str] | None = None) -> list[str]:
    """The addresses `host` resolves to, every one of them public or allowed; else INVALID_INPUT."""
    field = field or ["url"]
    host = host.lower()
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise invalid(f"Cannot resolve {host}: {exc.strerror}", field) from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not (address.is_global and not address.is_multicast) and not _allowed(host, address, allow):
            raise invalid(
                f"{host} resolves to {address}, a non-public address; pipelines may not reach it "
                "(an operator can allow it with ASSAY_ALLOWED_SOURCE_HOSTS)",
                field,
            )
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses


class PinnedBackend(httpcore.SyncBackend):
    """Connects only to addresses vetted at connect time, by address.

    Checking a URL and then letting the HTTP client resolve its host again leaves a window: a DNS
    name with a short TTL can answer a public address to the check and 127.0.0.1 to the connection
    (DNS rebinding). Here the addresses checked are the addresses connected to. TLS still verifies
    the certificate against the host name (the connection pool passes it to start_tls).
    """

    def __init__(self, allow: list[str]) -> None:
        self.allow = allow

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in vetted_addresses(host, port, self.allow):
            try:
                return super().connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:  # try the host's next address, as create_connection would
                last_error = exc
        raise last_error or httpcore.ConnectError(f"No address to connect to for {host}")
