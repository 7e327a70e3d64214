"""Collecting records from JSON APIs (paged four ways, retried, flattened) and CSV replies."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import simdjson

from services.errors import ErrorCode, ServiceError
from services.ingest.sniff import is_gzip_file
from services.pipelines import camel_case
from services.pipelines.config.sources import HttpSource
from services.pipelines.fetch import PENDING_BYTES, Fetcher, Log, fetched_on_a_thread, paused_between_pages
from services.pipelines.local_files import read_local_csv
from services.pipelines.records import RecordPages
from services.pipelines.spill import Spill


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


def collect_http(
    source: HttpSource,
    fetcher: Fetcher,
    *,
    max_records: int,
    log: Log,
    max_decompressed_bytes: int = 2**32,
    spill: Spill | None = None,
) -> RecordPages | CollectedTable:
    """Fetch pages on a thread while this one decodes and converts the pages already here.

    The fetching thread only finds the next page's URL (simdjson, without building the page's
    objects) and sends the next request at once, so decoding overlaps with the network wait.
    A CSV reply is one page, read exactly as an upload is. With `spill`, records beyond the job's
    budget go to scratch as they arrive (services.pipelines.spill), and a CSV reply is written to scratch
    as it downloads, then read chunk by chunk when it would not fit the job's share of its budget.
    """
    records_path = source.records_path
    collected = RecordPages(spill)
    # pages waiting to be converted count against the budget too
    pending = min(PENDING_BYTES, spill.share_bytes) if spill is not None else PENDING_BYTES
    # With a spill, a CSV reply goes to scratch as it downloads, never whole in memory (removed once read)
    reply_file = spill.folder / f"{spill.prefix}-reply.download" if spill is not None else None
    if spill is not None:
        spill.folder.mkdir(parents=True, exist_ok=True)
    try:
        with fetched_on_a_thread(partial(_fetch_pages, source, fetcher, reply_file=reply_file), pending) as pages:
            for number, final_url, body in pages:
                if isinstance(body, CsvReply):
                    return _csv_table(
                        final_url,
                        source,
                        body.path if body.path is not None else body.body,
                        max_records=max_records,
                        log=log,
                        max_decompressed_bytes=max_decompressed_bytes,
                        spill=spill,
                    )
                _add_page(collected, body, final_url, number, records_path, max_records, log)
    finally:
        if reply_file is not None:
            reply_file.unlink(missing_ok=True)
    return collected


def _add_page(
    collected: RecordPages,
    body: bytes,
    final_url: str,
    number: int,
    records_path: str | None,
    max_records: int,
    log: Log,
) -> None:
    found = dotted(orjson.loads(body), records_path)
    if not isinstance(found, list):
        raise ServiceError(
            ErrorCode.PARSE_ERROR, f"No list of records at {records_path or 'the top level'} of {final_url}"
        )
    collected.add(found)
    log(f"Page {number}: {len(found):,} record(s) from {final_url}", "INFO")
    if collected.rows > max_records:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE, f"More than {max_records:,} records")


class CsvReply(NamedTuple):
    body: bytes
    path: Path | None = None  # where the body was written instead, as it downloaded


class CollectedTable:
    """A source that arrives as a whole typed table (a CSV reply), beside RecordPages' interface: in memory, or a
    scratch Parquet file when the reply would not fit the job's share of its budget."""

    def __init__(self, table: pa.Table | Path) -> None:
        self.table = table
        self.rows = table.num_rows if isinstance(table, pa.Table) else pq.ParquetFile(table).metadata.num_rows

    def result(self) -> pa.Table | Path:
        return self.table


CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt.gz")


def is_csv_reply(source: HttpSource, content_type: str, url: str) -> bool:
    if source.format != "AUTO":
        return source.format == "CSV"
    media = content_type.split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv", "text/tab-separated-values", "text/x-csv"):
        return True
    return media in ("", "text/plain", "application/octet-stream", "application/gzip") and urlsplit(
        url
    ).path.lower().endswith(CSV_SUFFIXES)


def _csv_table(
    url: str,
    source: HttpSource,
    body: bytes | Path,
    *,
    max_records: int,
    log: Log,
    max_decompressed_bytes: int,
    spill: Spill | None = None,
) -> CollectedTable:
    """The reply through the upload's own detection and reader (it reads files: a temporary one for a body in
    memory); a reply on disk beyond the job's share of its budget is read chunk by chunk into scratch Parquet."""
    for name in ("records_path", "next_page_path"):
        if getattr(source, name):
            log(f"`{camel_case(name)}` applies to JSON replies; {url} answered CSV, read as one table", "WARNING")
    with tempfile.TemporaryDirectory(prefix="assay-csv-") as folder:
        if isinstance(body, bytes):  # a small reply held in memory: the reader reads files
            (reply := Path(folder) / "reply").write_bytes(body)
            log(f"CSV from {url}: {len(body) / 2**20:,.1f} MB", "INFO")
        else:
            reply = body
            log(f"CSV from {url}: {body.stat().st_size / 2**20:,.1f} MB written to scratch as it arrived", "INFO")
        path = reply.rename(reply.with_suffix(".csv.gz" if is_gzip_file(reply) else ".csv"))  # the reader's size guess
        try:
            read = read_local_csv(
                path,
                max_records=max_records,
                max_decompressed_bytes=max_decompressed_bytes,
                log=log,
                spill=spill,
                shown=url,
            )
        finally:
            path.unlink(missing_ok=True)
    return CollectedTable(read)


def _fetch_pages(
    source: HttpSource,
    fetcher: Fetcher,
    put: Callable[[Any, int], None],
    stop: threading.Event,
    *,
    reply_file: Path | None = None,
) -> None:
    """Pages as they arrive; a CSV reply written to `reply_file` as it downloads, when given."""
    paging = Paging(source)

    def csv_to_disk(content_type: str, final_url: str) -> Path | None:
        return reply_file if is_csv_reply(source, content_type, final_url) else None

    url: str | None = source.url
    params = paging.first_params()
    for page in range(source.pages):
        if not url or (page and paused_between_pages(source, stop)) or stop.is_set():
            break
        body, final_url, content_type = fetcher.fetch(
            url,
            method=source.method.upper(),
            headers=source.headers,
            params=params,
            retries=source.retries,
            timeout=float(source.timeout_seconds),
            body_file=csv_to_disk if reply_file is not None else None,
        )
        if is_csv_reply(source, content_type, final_url):
            on_disk = reply_file if reply_file is not None and reply_file.exists() else None
            put((page + 1, final_url, CsvReply(body, on_disk)), len(body))
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

    def __init__(self, source: HttpSource) -> None:
        self.params = dict(source.params or {})
        self.next_pointer = json_pointer(source.next_page_path)
        self.cursor_pointer, self.cursor_param = json_pointer(source.cursor_path), source.cursor_param
        self.page_param, self.offset_param = source.page_param, source.offset_param
        self.records_pointer = json_pointer(source.records_path)
        self.page = source.first_page if source.first_page is not None else 1
        self.offset = 0

    def first_params(self) -> dict[str, Any] | None:
        if self.page_param:
            return {**self.params, self.page_param: self.page}
        if self.offset_param:
            return {**self.params, self.offset_param: self.offset}
        return self.params or None

    def following(
        self, document: Any, url: str, final_url: str, params: dict[str, Any] | None
    ) -> tuple[str | None, dict[str, Any] | None]:
        if self.next_pointer:
            found = _value_at(document, self.next_pointer)
            # the next URL carries its own query: the configured params went with the first request
            return (urljoin(final_url, found), None) if isinstance(found, str) and found else (None, None)
        if self.cursor_param:
            cursor = _value_at(document, self.cursor_pointer)
            if (
                cursor is None
                or cursor == ""
                or isinstance(cursor, (bool, dict, list))
                or str(cursor) == str((params or {}).get(self.cursor_param))
            ):  # the same cursor again: no progress
                return None, None
            return url, {**self.params, self.cursor_param: cursor}
        if self.page_param or self.offset_param:
            records = _count_at(document, self.records_pointer)
            if not records:
                return None, None
            self.page, self.offset = self.page + 1, self.offset + records
            return url, self.first_params()
        return None, None


def json_pointer(path: str | None) -> str | None:
    """A dotted path ("links.next", "data.0.url") as an RFC 6901 pointer; digits index lists, as in `dotted`."""
    if not path:
        return None
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path.split("."))


def _parsed_json(body: bytes, final_url: str) -> Any:
    try:
        return simdjson.Parser().parse(body)
    except ValueError as exc:
        raise ServiceError(ErrorCode.PARSE_ERROR, f"{final_url} did not answer JSON") from exc


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
