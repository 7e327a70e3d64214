"""Server-side request forgery guard: pipeline sources reach public addresses only, unless allowed.

Checked after DNS resolution, for the first request and again for every redirect.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from services.errors import invalid


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
    field = field or ["url"]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("Source URLs must be http:// or https:// with a host", field)
    host = parts.hostname.lower()
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise invalid(f"Cannot resolve {host}: {exc.strerror}", field) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if address.is_global and not address.is_multicast:
            continue
        if _allowed(host, address, allow):
            continue
        raise invalid(f"{host} resolves to {address}, a non-public address; pipelines may not reach it "
                      "(an operator can allow it with ASSAY_ALLOWED_SOURCE_HOSTS)", field)
