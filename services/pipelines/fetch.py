"""Fetching for pipeline sources: pinned connections (SSRF), retries with backoff, a size cap, and the
thread that fetches pages while the collecting thread converts the ones already here."""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urljoin

import httpcore
import httpx

from services.errors import ErrorCode, ServiceError, invalid
from services.pipelines.ssrf import PinnedBackend, check_scheme

if TYPE_CHECKING:
    from services.pipelines.config.sources import HttpSource, ScrapeSource


# How a collecting function reports to its job's log: (message, level).
Log = Callable[[str, str], None]
# Where a reply's body goes instead of memory, decided from its (content type, final URL); None: memory.
BodyFile = Callable[[str, str], Path | None]

MAX_REDIRECTS = 5
# Sites answer an unnamed client worse (or not at all); a source's own headers override this.
DEFAULT_HEADERS = {"User-Agent": "Assay data pipeline (httpx)"}
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_BACKOFF_SECONDS = 30


class Fetched(NamedTuple):
    body: bytes
    url: str  # after redirects
    content_type: str


def pinned_client(allow: list[str], ssl_context: ssl.SSLContext) -> httpx.Client:
    """An httpx client whose connections go only to addresses vetted when connecting (see PinnedBackend).

    httpx (0.28) builds its connection pool with no way to pass a network backend, so the transport's
    pool is replaced by one built with ours (httpcore's public API; httpx's defaults for the limits).
    That private attribute is checked first: were httpx to keep its pool elsewhere, ours would be
    ignored and connections would skip the SSRF check, so no client is better than that one.
    tests/transport/test_library_seams.py checks both the attribute and a refusal through a real connection.
    """
    transport = httpx.HTTPTransport(verify=ssl_context)
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError(
            f"httpx {httpx.__version__} no longer keeps HTTPTransport's pool in `_pool`: "
            "pinned_client cannot install its SSRF-vetting network backend"
        )
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=PinnedBackend(allow),
    )
    return httpx.Client(transport=transport, follow_redirects=False, headers=DEFAULT_HEADERS)


class Fetcher:
    """GET/POST with SSRF checks on every hop, retries with backoff and jitter, and a response-size cap."""

    def __init__(
        self,
        *,
        allow: list[str],
        max_bytes: int,
        log: Callable[[str, str], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.allow, self.max_bytes, self.log, self.sleep = allow, max_bytes, log, sleep
        # Loading the CA store takes ~30 ms: plain-http sources never pay it (the context is unused there).
        self._plain = pinned_client(allow, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        self._tls: httpx.Client | None = None
        self.waited = 0.0

    def _client_for(self, url: str) -> httpx.Client:
        if not url.lower().startswith("https:"):
            return self._plain
        if self._tls is None:
            self._tls = pinned_client(self.allow, httpx.create_ssl_context())
        return self._tls

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        retries: int = 3,
        timeout: float = 30,
        body_file: BodyFile | None = None,
    ) -> Fetched:
        """The reply; when `body_file(content_type, final_url)` names a file, a successful reply's body is written
        there as it arrives (within the same cap) and `Fetched.body` is empty."""
        for attempt in range(retries + 1):
            try:
                fetched, status, retry_after = self._follow(url, method, headers, params, timeout, body_file)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise invalid(f"Could not reach {url}: {exc}") from exc
                self._pause(attempt, None, f"connection error ({exc.__class__.__name__})")
                continue
            if status in RETRY_STATUSES and attempt < retries:
                self._pause(attempt, retry_after, f"HTTP {status}")
                continue
            if status >= 400:
                raise invalid(f"{url} answered HTTP {status}")
            return fetched
        raise AssertionError("unreachable")

    def _pause(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret
        if retry_after:
            try:
                delay = float(retry_after)
            except ValueError:
                with suppress(TypeError, ValueError):
                    delay = max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
        delay = min(delay, MAX_BACKOFF_SECONDS)
        self.log(f"{why}; retrying in {delay:.2f} s (attempt {attempt + 2})", "WARNING")
        self.waited += delay
        self.sleep(delay)

    def _follow(
        self,
        url: str,
        method: str,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
        timeout: float,
        body_file: BodyFile | None = None,
    ) -> tuple[Fetched, int, str | None]:
        for _ in range(MAX_REDIRECTS + 1):
            check_scheme(url)  # the addresses are vetted by the connection itself (PinnedBackend)
            began = time.perf_counter()
            with self._client_for(url).stream(method, url, headers=headers, params=params, timeout=timeout) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    method, params = "GET", None
                    continue
                content_type = response.headers.get("content-type", "")
                target = body_file(content_type, str(response.url)) if body_file and response.is_success else None
                if target is not None:
                    with target.open("wb") as out:
                        self._read_body(response, url, out.write)
                    body = b""
                else:
                    chunks: list[bytes] = []
                    self._read_body(response, url, chunks.append)
                    body = b"".join(chunks)
                self.waited += time.perf_counter() - began
                fetched = Fetched(body, str(response.url), content_type)
                return fetched, response.status_code, response.headers.get("retry-after")
        raise invalid(f"More than {MAX_REDIRECTS} redirects from {url}")

    def _read_body(self, response: httpx.Response, url: str, keep: Callable[[bytes], Any]) -> None:
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"{url} sent more than {self.max_bytes // 2**20} MB")
            keep(chunk)


PENDING_BYTES = 64 * 2**20  # fetched pages not yet converted; a short stall here must not stop the fetching


class PageHandoff:
    """Pages from the fetching thread to the converting one, bounded by bytes, not by count."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: deque[tuple[Any, int]] = deque()
        self._bytes = 0
        self._changed = threading.Condition()

    def put(self, item: Any, size: int, stop: threading.Event) -> None:
        with self._changed:
            while self._bytes and self._bytes + size > self.budget and not stop.is_set():
                self._changed.wait(0.1)
            self._items.append((item, size))
            self._bytes += size
            self._changed.notify_all()

    def get(self) -> Any:
        with self._changed:
            while not self._items:
                self._changed.wait()
            item, size = self._items.popleft()
            self._bytes -= size
            self._changed.notify_all()
            return item


@contextmanager
def fetched_on_a_thread(
    fetch_all: Callable[[Callable[[Any, int], None], threading.Event], None], pending_bytes: int = PENDING_BYTES
) -> Iterator[Iterator[Any]]:
    """The pages `fetch_all(put, stop)` puts, as they arrive from its thread; its failure is raised here.

    At most `pending_bytes` of pages wait (or one, when larger). Leaving the block stops the fetching and
    waits for the thread.
    """
    pages = PageHandoff(pending_bytes)
    stop = threading.Event()

    def fetch() -> None:
        try:
            fetch_all(lambda item, size: pages.put(item, size, stop), stop)
            pages.put(None, 0, stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the collecting thread, which raises it
            pages.put(exc, 0, stop)

    def arrived() -> Iterator[Any]:
        while (item := pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    fetching = threading.Thread(target=fetch, daemon=True, name="pipeline-fetch")
    fetching.start()
    try:
        yield arrived()
    finally:
        stop.set()
        fetching.join()


def paused_between_pages(source: HttpSource | ScrapeSource, stop: threading.Event) -> bool:
    """Wait `delay_seconds` before the next page's request; True when the collection was stopped meanwhile."""
    delay = float(source.delay_seconds)
    return stop.wait(delay) if delay > 0 else False
