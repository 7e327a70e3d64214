"""Is a URL one an HTTP client can use? Judged from its text alone, before any DNS lookup.

Refused with INVALID_INPUT naming the field: other schemes, unbalanced brackets, ports outside
1-65535, spaces and control characters, host names that DNS cannot carry (labels over 63 octets,
empty labels, names over 253, leading or trailing hyphens, IDNA that does not encode), and
numeric hosts that are not an IP address (`1.2.3.4.5`, `2130706433`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

import idna

from services.errors import invalid

MAX_URL_LENGTH = 8192
MAX_HOST_LENGTH = 253
LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")  # underscores occur in real names, though not in RFC 952


def check_web_url(url: str, field: list[str], what: str = "URL") -> SplitResult:
    """The parts of an http(s) URL that names a usable host and port; otherwise INVALID_INPUT on `field`."""
    if len(url) > MAX_URL_LENGTH:
        raise invalid(f"The {what} is longer than {MAX_URL_LENGTH:,} characters", field)
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise invalid(f"The {what} holds spaces or control characters; percent-encode them", field)
    try:
        parts = urlsplit(url)
        port = parts.port  # a ValueError when not a number in 0-65535
    except ValueError as exc:
        raise invalid(f"The {what} is malformed: {exc}", field) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"The {what} must be http:// or https:// with a host", field)
    if port is not None and not 1 <= port <= 65535:
        raise invalid(f"The {what}'s port must be between 1 and 65535", field)
    if "[" in parts.netloc and ":" not in parts.hostname:  # brackets hold an IPv6 address, nothing else we can reach
        raise invalid(f"The {what}'s bracketed host must be an IPv6 address", field)
    check_host(parts.hostname, field, what)
    return parts


def check_host(host: str, field: list[str], what: str = "URL") -> None:
    if ":" in host:  # only a bracketed IPv6 literal can hold a colon here
        try:
            if ipaddress.IPv6Address(host).scope_id:
                raise invalid(f"The {what}'s IPv6 address may not name a zone ({host})", field)
        except ValueError as exc:
            raise invalid(f"The {what}'s host {host!r} is not an IPv6 address", field) from exc
        return
    try:
        ipaddress.IPv4Address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = host if host.isascii() else idna.encode(host, uts46=True).decode()
    except idna.IDNAError as exc:
        raise invalid(f"The {what}'s host {host!r} is not a valid international name: {exc}", field) from exc
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > MAX_HOST_LENGTH or not all(LABEL.match(label) for label in labels):
        raise invalid(
            f"The {what}'s host {host!r} is not a valid name: each dot-separated label must be 1-63 "
            f"letters, digits or hyphens (not at either end), {MAX_HOST_LENGTH} characters in all",
            field,
        )
    if labels[-1].isdigit():
        raise invalid(f"The {what}'s host {host!r} is numeric but not an IP address", field)
