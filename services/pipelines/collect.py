"""Collecting records: JSON APIs (paged, retried, flattened) and HTML pages (CSS selectors)."""
from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urljoin

import httpx
import pandas as pd

from services.errors import ServiceError
from services.pipelines.ssrf import check_url

MAX_REDIRECTS = 5
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


class Fetcher:
    """GET/POST with SSRF checks on every hop, retries with backoff and jitter, and a response-size cap."""

    def __init__(self, *, allow: list[str], max_bytes: int, log: Callable[[str, str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.allow, self.max_bytes, self.log, self.sleep = allow, max_bytes, log, sleep
        self.client = httpx.Client(follow_redirects=False)
        self.waited = 0.0

    def fetch(self, url: str, *, method: str = "GET", headers: dict | None = None, params: dict | None = None,
              retries: int = 3, timeout: float = 30) -> tuple[bytes, str]:
        for attempt in range(retries + 1):
            try:
                body, final_url, status, retry_after = self._follow(url, method, headers, params, timeout)
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
            return body, final_url
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
            check_url(url, self.allow)
            began = time.perf_counter()
            with self.client.stream(method, url, headers=headers, params=params, timeout=timeout) as response:
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
                return b"".join(chunks), str(response.url), response.status_code, response.headers.get("retry-after")
        raise ServiceError("INVALID_INPUT", f"More than {MAX_REDIRECTS} redirects from {url}")


def collect_http(source: dict[str, Any], fetcher: Fetcher, *, max_records: int, log) -> pd.DataFrame:
    records: list[Any] = []
    url: str | None = source["url"]
    params = source.get("params")
    for page in range(int(source.get("max_pages") or 100)):
        if not url:
            break
        body, final_url = fetcher.fetch(url, method=source.get("method") or "GET", headers=source.get("headers"),
                                        params=params, retries=int(source.get("retries", 3)),
                                        timeout=float(source.get("timeout_seconds") or 30))
        try:
            import json
            payload = json.loads(body)
        except ValueError as exc:
            raise ServiceError("PARSE_ERROR", f"{final_url} did not answer JSON") from exc
        found = dotted(payload, source.get("records_path"))
        if not isinstance(found, list):
            raise ServiceError("PARSE_ERROR", f"No list of records at {source.get('records_path') or 'the top level'} "
                               f"of {final_url}")
        records.extend(found)
        log(f"Page {page + 1}: {len(found):,} record(s) from {final_url}", "INFO")
        if len(records) > max_records:
            raise ServiceError("PAYLOAD_TOO_LARGE", f"More than {max_records:,} records")
        next_url = dotted(payload, source.get("next_page_path")) if source.get("next_page_path") else None
        url, params = (urljoin(final_url, next_url) if isinstance(next_url, str) and next_url else None), None
    return pd.json_normalize(records, sep=".") if records else pd.DataFrame()


def collect_scrape(source: dict[str, Any], fetcher: Fetcher, *, max_records: int, log) -> pd.DataFrame:
    from bs4 import BeautifulSoup
    body, final_url = fetcher.fetch(source["url"])
    soup = BeautifulSoup(body, "html.parser")
    rows = soup.select(source["row_selector"])[: max_records + 1]
    if len(rows) > max_records:
        raise ServiceError("PAYLOAD_TOO_LARGE", f"More than {max_records:,} rows")
    records = []
    for row in rows:
        record = {}
        for field in source["fields"]:
            element = row.select_one(field["selector"]) if field["selector"] else row
            if element is None:
                record[field["name"]] = None
                continue
            attribute = field.get("attribute")
            value = element.get(attribute) if attribute else element.get_text(" ", strip=True)
            if isinstance(value, list):
                value = " ".join(value)
            if attribute in ("href", "src", "action") and value:
                value = urljoin(final_url, value)
            record[field["name"]] = value
        records.append(record)
    log(f"Scraped {len(records):,} row(s) from {final_url}", "INFO")
    return pd.DataFrame.from_records(records, columns=[f["name"] for f in source["fields"]])
