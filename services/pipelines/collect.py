"""Collecting records: JSON APIs (paged, retried, flattened) and HTML pages (CSS selectors)."""
from __future__ import annotations

import codecs
import random
import tempfile
import ssl
import threading
import time
from collections import deque
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import orjson
import pyarrow as pa
import simdjson
from selectolax.lexbor import LexborHTMLParser, SelectolaxError
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from services.errors import ServiceError
from services.ingest.parse import detect_file_dialect, read_with_dialect
from services.pipelines import camel_case
from services.pipelines.records import FlatColumns, RecordPages
from services.pipelines.ssrf import PinnedBackend, check_scheme

MAX_REDIRECTS = 5
# Sites answer an unnamed client worse (or not at all); a source's own headers override this.
DEFAULT_HEADERS = {"User-Agent": "Assay data pipeline (httpx)"}
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_BACKOFF_SECONDS = 30


def dotted(value: Any, path: str | None) -> Any:
    """Follow "a.b.0.c" into nested dicts and lists; None when a step is missing."""
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class Fetched(NamedTuple):
    body: bytes
    url: str  # after redirects
    content_type: str


def pinned_client(allow: list[str], ssl_context: ssl.SSLContext) -> httpx.Client:
    """An httpx client whose connections go only to addresses vetted when connecting (see PinnedBackend).

    httpx builds its connection pool with no way to pass a network backend, so the transport's pool
    is replaced by one built with ours (httpcore's public API; httpx's defaults for the limits).
    """
    transport = httpx.HTTPTransport(verify=ssl_context)
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, max_connections=100, max_keepalive_connections=20,
                                              keepalive_expiry=5.0, network_backend=PinnedBackend(allow))
    return httpx.Client(transport=transport, follow_redirects=False, headers=DEFAULT_HEADERS)


class Fetcher:
    """GET/POST with SSRF checks on every hop, retries with backoff and jitter, and a response-size cap."""

    def __init__(self, *, allow: list[str], max_bytes: int, log: Callable[[str, str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
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

    def fetch(self, url: str, *, method: str = "GET", headers: dict | None = None, params: dict | None = None,
              retries: int = 3, timeout: float = 30) -> Fetched:
        for attempt in range(retries + 1):
            try:
                fetched, status, retry_after = self._follow(url, method, headers, params, timeout)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise ServiceError("INVALID_INPUT", f"Could not reach {url}: {exc}") from exc
                self._pause(attempt, None, f"connection error ({exc.__class__.__name__})")
                continue
            if status in RETRY_STATUSES and attempt < retries:
                self._pause(attempt, retry_after, f"HTTP {status}")
                continue
            if status >= 400:
                raise ServiceError("INVALID_INPUT", f"{url} answered HTTP {status}")
            return fetched
        raise AssertionError("unreachable")

    def _pause(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** attempt) * (0.5 + random.random() / 2)
        if retry_after:
            try:
                delay = float(retry_after)
            except ValueError:
                try:
                    delay = max(0.0, parsedate_to_datetime(retry_after).timestamp() - time.time())
                except (TypeError, ValueError):
                    pass
        delay = min(delay, MAX_BACKOFF_SECONDS)
        self.log(f"{why}; retrying in {delay:.2f} s (attempt {attempt + 2})", "WARNING")
        self.waited += delay
        self.sleep(delay)

    def _follow(self, url: str, method: str, headers, params, timeout: float):
        for _ in range(MAX_REDIRECTS + 1):
            check_scheme(url)  # the addresses are vetted by the connection itself (PinnedBackend)
            began = time.perf_counter()
            with self._client_for(url).stream(method, url, headers=headers, params=params, timeout=timeout) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    method, params = "GET", None
                    continue
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ServiceError("PAYLOAD_TOO_LARGE", f"{url} sent more than {self.max_bytes // 2**20} MB")
                    chunks.append(chunk)
                self.waited += time.perf_counter() - began
                fetched = Fetched(b"".join(chunks), str(response.url), response.headers.get("content-type", ""))
                return fetched, response.status_code, response.headers.get("retry-after")
        raise ServiceError("INVALID_INPUT", f"More than {MAX_REDIRECTS} redirects from {url}")


def collect_http(source: dict[str, Any], fetcher: Fetcher, *, max_records: int, log,
                 max_decompressed_bytes: int = 2**32) -> RecordPages | CollectedTable:
    """Fetch pages on a thread while this one decodes and converts the pages already here.

    The fetching thread only finds the next page's URL (simdjson, without building the page's
    objects) and sends the next request at once, so decoding overlaps with the network wait.
    A CSV reply is one page, read exactly as an upload is.
    """
    records_path = source.get("records_path")
    collected = RecordPages()
    with fetched_on_a_thread(partial(_fetch_pages, source, fetcher)) as pages:
        for number, final_url, body in pages:
            if isinstance(body, CsvReply):
                return _csv_table(body.body, final_url, source, max_records=max_records, log=log,
                                  max_decompressed_bytes=max_decompressed_bytes)
            found = dotted(orjson.loads(body), records_path)
            if not isinstance(found, list):
                raise ServiceError("PARSE_ERROR", f"No list of records at {records_path or 'the top level'} of {final_url}")
            collected.add(found)
            log(f"Page {number}: {len(found):,} record(s) from {final_url}", "INFO")
            if collected.rows > max_records:
                raise ServiceError("PAYLOAD_TOO_LARGE", f"More than {max_records:,} records")
    return collected


PENDING_BYTES = 64 * 2**20  # fetched pages not yet converted; a short stall here must not stop the fetching
DEFAULT_MAX_PAGES = 100


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
def fetched_on_a_thread(fetch_all: Callable[[Callable[[Any, int], None], threading.Event], None]) -> Iterator[Iterator[Any]]:
    """The pages `fetch_all(put, stop)` puts, as they arrive from its thread; its failure is raised here.

    Leaving the block stops the fetching and waits for the thread.
    """
    pages = PageHandoff(PENDING_BYTES)
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


class CsvReply(NamedTuple):
    body: bytes


class CollectedTable:
    """A source that arrives as a whole typed table (a CSV reply), beside RecordPages' interface."""

    def __init__(self, table: pa.Table) -> None:
        self.table, self.rows = table, table.num_rows

    def to_table(self) -> pa.Table:
        return self.table


CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt.gz")


def is_csv_reply(source: dict[str, Any], content_type: str, url: str) -> bool:
    chosen = source.get("format") or "AUTO"
    if chosen != "AUTO":
        return chosen == "CSV"
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv", "text/tab-separated-values", "text/x-csv"):
        return True
    return media in ("", "text/plain", "application/octet-stream", "application/gzip") and \
        urlsplit(url).path.lower().endswith(CSV_SUFFIXES)


def _csv_table(body: bytes, url: str, source: dict[str, Any], *, max_records: int, log,
               max_decompressed_bytes: int) -> CollectedTable:
    """The reply through the upload's own detection and reader (it reads files: a temporary one here)."""
    for name in ("records_path", "next_page_path"):
        if source.get(name):
            log(f"`{camel_case(name)}` applies to JSON replies; {url} answered CSV, read as one table", "WARNING")
    with tempfile.TemporaryDirectory(prefix="assay-csv-") as folder:
        path = Path(folder) / "reply.csv"
        path.write_bytes(body)
        dialect = detect_file_dialect(path, options={})
        table = read_with_dialect(path, dialect, max_decompressed=max_decompressed_bytes)
    if table.num_rows > max_records:
        raise ServiceError("PAYLOAD_TOO_LARGE", f"More than {max_records:,} records")
    delimiter = {"\t": "tab", "whitespace": "runs of spaces"}.get(dialect.delimiter, repr(dialect.delimiter))
    log(f"CSV from {url}: encoding {dialect.encoding}, delimiter {delimiter}, "
        f"header {'yes' if dialect.has_header else 'no'}; {table.num_rows:,} row(s)", "INFO")
    return CollectedTable(table)


def _fetch_pages(source: dict[str, Any], fetcher: Fetcher, put: Callable[[Any, int], None],
                 stop: threading.Event) -> None:
    paging = Paging(source)
    url: str | None = source["url"]
    params = paging.first_params()
    for page in range(int(source.get("max_pages") or DEFAULT_MAX_PAGES)):
        if not url or (page and _paused(source, stop)) or stop.is_set():
            break
        body, final_url, content_type = fetcher.fetch(
            url, method=source.get("method") or "GET", headers=source.get("headers"), params=params,
            retries=int(source.get("retries", 3)), timeout=float(source.get("timeout_seconds") or 30))
        if is_csv_reply(source, content_type, final_url):
            put((page + 1, final_url, CsvReply(body)), len(body))
            return
        url, params = paging.following(_parsed_json(body, final_url), url, final_url, params)
        put((page + 1, final_url, body), len(body))


class Paging:
    """Where the next page's request goes, decided from the reply just read, by one of four styles:
    a next-page URL in the reply (`next_page_path`), a cursor in the reply sent back as a query
    parameter (`cursor_path` + `cursor_param`), a page number (`page_param`, from `first_page`),
    or an offset advanced by the records read (`offset_param`). Numbered and offset pages end at the
    first page without records. Only the next page's position is read (simdjson, without building
    the page's objects)."""

    def __init__(self, source: dict[str, Any]) -> None:
        self.params = dict(source.get("params") or {})
        self.next_pointer = json_pointer(source.get("next_page_path"))
        self.cursor_pointer, self.cursor_param = json_pointer(source.get("cursor_path")), source.get("cursor_param")
        self.page_param, self.offset_param = source.get("page_param"), source.get("offset_param")
        self.records_pointer = json_pointer(source.get("records_path"))
        first_page = source.get("first_page")
        self.page = int(first_page) if first_page is not None else 1
        self.offset = 0

    def first_params(self) -> dict[str, Any] | None:
        if self.page_param:
            return {**self.params, self.page_param: self.page}
        if self.offset_param:
            return {**self.params, self.offset_param: self.offset}
        return self.params or None

    def following(self, document: Any, url: str, final_url: str, params: dict | None) -> tuple[str | None, dict | None]:
        if self.next_pointer:
            found = _value_at(document, self.next_pointer)
            # the next URL carries its own query: the configured params went with the first request
            return (urljoin(final_url, found), None) if isinstance(found, str) and found else (None, None)
        if self.cursor_param:
            cursor = _value_at(document, self.cursor_pointer)
            if cursor is None or cursor == "" or isinstance(cursor, (bool, dict, list)) or \
                    str(cursor) == str((params or {}).get(self.cursor_param)):  # the same cursor again: no progress
                return None, None
            return url, {**self.params, self.cursor_param: cursor}
        if self.page_param or self.offset_param:
            records = _count_at(document, self.records_pointer)
            if not records:
                return None, None
            self.page, self.offset = self.page + 1, self.offset + records
            return url, self.first_params()
        return None, None


def _paused(source: dict[str, Any], stop: threading.Event) -> bool:
    """Wait `delay_seconds` before the next page's request; True when the collection was stopped meanwhile."""
    delay = float(source.get("delay_seconds") or 0)
    return stop.wait(delay) if delay > 0 else False


def json_pointer(path: str | None) -> str | None:
    """A dotted path ("links.next", "data.0.url") as an RFC 6901 pointer; digits index lists, as in `dotted`."""
    if not path:
        return None
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path.split("."))


def _parsed_json(body: bytes, final_url: str) -> Any:
    try:
        return simdjson.Parser().parse(body)
    except ValueError as exc:
        raise ServiceError("PARSE_ERROR", f"{final_url} did not answer JSON") from exc


def _value_at(document: Any, pointer: str | None) -> Any:
    """The scalar at `pointer` (str, number, bool), or None when there is none."""
    if pointer is None:
        return None
    try:
        found = document.at_pointer(pointer)
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return found if isinstance(found, (str, int, float, bool)) else None


def _count_at(document: Any, pointer: str | None) -> int:
    """How many records the list at `pointer` (the whole reply when None) holds; 0 when it is no list."""
    try:
        found = document if pointer is None else document.at_pointer(pointer)
    except (KeyError, IndexError, ValueError, TypeError):
        return 0
    return len(found) if isinstance(found, simdjson.Array) else 0


def check_selectors(source: dict[str, Any]) -> None:
    """Refuse a selector lexbor cannot parse when the pipeline is saved, not when it first runs."""
    probe = LexborHTMLParser("<p></p>")
    selectors = [(source["row_selector"], ["source", "scrape", "rowSelector"])] + [
        (field["selector"], ["source", "scrape", "fields", str(index), "selector"])
        for index, field in enumerate(source["fields"]) if field["selector"]]
    if source.get("next_page_selector"):
        selectors.append((source["next_page_selector"], ["source", "scrape", "nextPageSelector"]))
    for selector, path in selectors:
        try:
            probe.css(selector)
        except SelectolaxError as exc:
            raise ServiceError("INVALID_INPUT", f"Not a CSS selector: {selector!r}", path) from exc


def collect_scrape(source: dict[str, Any], fetcher: Fetcher, *, max_records: int, log) -> FlatColumns:
    """Rows by a CSS selector, fields by selectors within each row; parsed with lexbor (selectolax).

    With `next_page_selector`, pages follow the link it selects (up to `max_pages`, never the same URL
    twice). A thread fetches and parses each page and requests the next one at once, while this one
    selects the rows of the pages already parsed.
    """
    fields = source["fields"]
    columns = FlatColumns([f["name"] for f in fields])  # every field is a column, even when no row matched
    page_count = 0
    with fetched_on_a_thread(partial(_fetch_html_pages, source, fetcher, log)) as pages:
        for page_count, final_url, document in pages:
            count, found = scraped_columns(document, source["row_selector"], fields, final_url)
            if columns.rows + count > max_records:
                raise ServiceError("PAYLOAD_TOO_LARGE", f"More than {max_records:,} rows")
            columns.add_columns(count, found)
            log(f"Page {page_count}: {count:,} row(s) from {final_url}", "INFO")
    log(f"Scraped {columns.rows:,} row(s) from {page_count} page(s)", "INFO")
    return columns


def link_resolver(page_url: str) -> Callable[[str], str]:
    """`urljoin(page_url, href)`, with the common root-relative href ("/items/7") joined directly.

    urljoin takes ~8 µs a link: 38 ms of a 5,000-row page with one link per row. A root-relative
    path with no dot segments joins to the page's origin plus the href unchanged, which is what
    urljoin returns for it; anything else goes through urljoin.
    """
    parts = urlsplit(page_url)
    origin = f"{parts.scheme}://{parts.netloc}"

    def resolve(href: str) -> str:
        if href.startswith("/") and not href.startswith("//") and "/." not in href.split("?", 1)[0].split("#", 1)[0]:
            return origin + href
        return urljoin(page_url, href)
    return resolve


def scraped_columns(document: LexborHTMLParser, row_selector: str, fields: list[dict[str, Any]],
                    page_url: str) -> tuple[int, dict[str, list[Any]]]:
    """The rows `row_selector` picks and, per field, its value in each row: (row count, columns).

    A field's value is that of the first element its selector finds within the row (the row
    itself included), as `row.css_first(selector)` gives. Asking each row costs a selector parse
    and a walk per row and field (~2.6 µs: 39 ms of a 5,000-row page with three fields); instead
    each field's selector runs once over the page and every match is given to the row it lies in,
    found by walking up its ancestors. Matches come in document order, so the first one a row is
    given is the one `css_first` would find. Selectors were checked when the pipeline was saved.
    """
    resolve = link_resolver(page_url)
    rows = document.css(row_selector)
    row_at = {row.mem_id: position for position, row in enumerate(rows)}
    nested = _rows_nest(rows, row_at)
    columns = {}
    for field in fields:
        elements = _first_in_each_row(document.css(field["selector"]), row_at, len(rows), nested) \
            if field["selector"] else rows
        attribute = field.get("attribute")
        if attribute:
            values = [None if element is None else element.attributes.get(attribute) for element in elements]
            if attribute in ("href", "src", "action"):
                values = [resolve(value) if value else value for value in values]
        else:
            values = [None if element is None else element.text(separator=" ", strip=True) for element in elements]
        columns[field["name"]] = values
    return len(rows), columns


def _rows_nest(rows: list, row_at: dict[int, int]) -> bool:
    """Whether any row lies inside another; ancestors already walked from an earlier row are not
    walked again (rows mostly share one parent)."""
    clear: set[int] = set()  # nodes with no row at or above them
    for row in rows:
        node, walked = row.parent, []
        while node is not None and node.mem_id not in clear:
            if node.mem_id in row_at:
                return True
            walked.append(node.mem_id)
            node = node.parent
        clear.update(walked)
    return False


def _first_in_each_row(matches: list, row_at: dict[int, int], row_count: int, nested: bool) -> list:
    """For each row, the first of `matches` (in document order) inside it; a match inside a row
    nested in another row is inside both, so with nesting every row above a match is given it."""
    first: list = [None] * row_count
    for match in matches:
        node = match
        while node is not None:
            position = row_at.get(node.mem_id)
            if position is not None:
                if first[position] is None:
                    first[position] = match
                if not nested:
                    break
            node = node.parent
    return first


def _fetch_html_pages(source: dict[str, Any], fetcher: Fetcher, log, put: Callable[[Any, int], None],
                      stop: threading.Event) -> None:
    url: str | None = source["url"]
    next_selector = source.get("next_page_selector")
    limit = int(source.get("max_pages") or DEFAULT_MAX_PAGES) if next_selector else 1
    seen: set[str] = set()
    for number in range(1, limit + 1):
        if not url or (number > 1 and _paused(source, stop)) or stop.is_set():
            break
        seen.add(url)
        body, final_url, content_type = fetcher.fetch(url, headers=source.get("headers"),
                                                      retries=int(source.get("retries", 3)),
                                                      timeout=float(source.get("timeout_seconds") or 30))
        seen.add(final_url)
        document = parsed_html(body, content_type)
        url = _next_link(document, next_selector, final_url) if next_selector else None
        if url in seen:
            log(f"The next-page link of {final_url} leads back to {url}: stopping there", "WARNING")
            url = None
        put((number, final_url, document), len(body))
    if url and not stop.is_set():
        log(f"Stopped after {limit} page(s) (maxPages); more follow from {url}", "WARNING")


def parsed_html(body: bytes, content_type: str) -> LexborHTMLParser:
    """The page decoded as a browser would: by its byte-order mark, else the charset the response's
    Content-Type names, else a `<meta>` declaration near its start, else as UTF-8; labels mean what
    they mean to browsers ("iso-8859-1" is windows-1252). Without this a windows-1252 or Shift_JIS
    page reads as U+FFFD where its accents were.
    """
    if read_bom(body)[0]:
        return LexborHTMLParser(body, encoding=True)  # lexbor reads the mark itself
    charset = _text_codec(http_content_type_encoding(content_type)) or _text_codec(html_body_declared_encoding(body))
    if charset in (None, "utf-8"):
        return LexborHTMLParser(body)  # bytes are parsed as UTF-8 without a copy
    return LexborHTMLParser(body.decode(charset, errors="replace"))


def _text_codec(name: str | None) -> str | None:
    """`name` when it is a codec that reads text; a label such as base64 or rot13 declares nothing."""
    if not name:
        return None
    try:
        b"x".decode(name, errors="replace")  # an empty input is not checked
    except LookupError:
        return None
    return codecs.lookup(name).name


def _next_link(document: LexborHTMLParser, selector: str, page_url: str) -> str | None:
    link = document.css_first(selector)
    href = link.attributes.get("href") if link is not None else None
    return urljoin(page_url, href.strip()) if href and href.strip() else None
