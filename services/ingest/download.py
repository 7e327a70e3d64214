"""Import by URL, in the INGEST job: an https:// file streamed straight into the dataset's folder.

The pipelines' SSRF rules hold on every hop (services.pipelines.fetch.pinned_client connects only
to addresses vetted as the connection opens; redirects are followed by hand, each one https and
vetted again). The upload cap, the free disk and a stall limit apply while the bytes arrive; a
body cut short of its announced length is refused. Whatever went wrong, the partial file is
removed (files.atomic_output) and the job fails with a typed error saying why.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from services import files
from services.errors import ErrorCode, ServiceError, invalid
from services.ingest.disk import MB, check_room, disk_full, is_disk_full
from services.jobs.retry import TransientError
from services.pipelines.fetch import MAX_REDIRECTS, pinned_client
from services.pipelines.ssrf import check_scheme

WRITE_PIECE = 4 * MB
LOG_EVERY = 256 * MB


def import_ssl_context(extra_ca_file: str | None) -> ssl.SSLContext:
    """The system's trusted CAs, plus an operator's own (ASSAY_IMPORT_CA_FILE: a private CA, or a test's)."""
    context = httpx.create_ssl_context()
    if extra_ca_file:
        context.load_verify_locations(cafile=extra_ca_file)
    return context


def check_import_url(url: str, field: list[str]) -> None:
    """An https:// URL with a usable host (addresses are vetted when connecting)."""
    parts = check_scheme(url, field)
    if parts.scheme != "https":
        raise invalid("Only https:// URLs can be imported", field)


def download(
    url: str,
    target: Path,
    *,
    data_dir: Path,
    allow: list[str],
    max_bytes: int,
    stall_seconds: float,
    extra_ca_file: str | None,
    log: Callable[[str], None],
) -> int:
    """Stream `url` to `target` (atomically); the bytes written. ServiceError, with nothing left, on any refusal."""
    client = pinned_client(allow, import_ssl_context(extra_ca_file))
    timeout = httpx.Timeout(stall_seconds, connect=min(30.0, stall_seconds * 5))
    try:
        with client, files.atomic_output(target) as temporary:
            written = _follow(client, url, temporary, data_dir, max_bytes, timeout, log)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full(data_dir) from exc
        raise
    return written


def _follow(
    client: httpx.Client,
    url: str,
    temporary: Path,
    data_dir: Path,
    max_bytes: int,
    timeout: httpx.Timeout,
    log: Callable[[str], None],
) -> int:
    for _ in range(MAX_REDIRECTS + 1):
        check_import_url(url, ["url"])
        try:
            with client.stream("GET", url, timeout=timeout) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    log(f"Redirected to {_shown(url)}")
                    continue
                if response.status_code >= 400:
                    raise invalid(f"{_shown(url)} answered HTTP {response.status_code}", ["url"])
                return _save(response, temporary, data_dir, max_bytes, log)
        except httpx.TimeoutException as exc:  # may pass: the INGEST job runs again (services/jobs/retry.py)
            raise TransientError(
                f"{_shown(url)} sent nothing for {timeout.read:g} s; the import stopped and nothing was kept", ["url"]
            ) from exc
        except httpx.RemoteProtocolError as exc:
            raise TransientError(
                f"The connection to {_shown(url)} was cut off before the file ended ({exc}); nothing was kept", ["url"]
            ) from exc
        except httpx.TransportError as exc:
            raise invalid(f"Could not fetch {_shown(url)}: {exc}; nothing was kept", ["url"]) from exc
    raise invalid(f"More than {MAX_REDIRECTS} redirects; nothing was kept", ["url"])


def _save(response: httpx.Response, temporary: Path, data_dir: Path, max_bytes: int, log: Callable[[str], None]) -> int:
    announced = response.headers.get("content-length")
    announced = int(announced) if announced and announced.isdigit() else None
    if announced is not None:
        if announced > max_bytes:
            raise _too_large(max_bytes)
        check_room(data_dir, announced)
    log(
        f"Downloading {_shown(str(response.url))}"
        + (f" ({announced / MB:,.1f} MB announced)" if announced else " (no length announced)")
    )
    started, written, next_log = time.perf_counter(), 0, LOG_EVERY
    with temporary.open("wb") as out:
        for piece in response.iter_raw(WRITE_PIECE):  # as sent: a .gz stays gzip (ingest inflates it, capped)
            written += len(piece)
            if written > max_bytes:
                raise _too_large(max_bytes)
            out.write(piece)
            if written >= next_log:
                log(f"Downloaded {written / MB:,.0f} MB" + (f" of {announced / MB:,.0f} MB" if announced else ""))
                next_log += LOG_EVERY
    if announced is not None and written != announced:  # (httpx raises first for a short body; kept as a guard)
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"The connection was cut off after {written:,} of {announced:,} bytes; nothing was kept",
            ["url"],
        )
    seconds = time.perf_counter() - started
    log(f"Downloaded {written / MB:,.1f} MB in {seconds:.1f} s ({written / MB / max(seconds, 1e-6):,.1f} MB/s)")
    return written


def _too_large(max_bytes: int) -> ServiceError:
    return ServiceError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The file is larger than the {max_bytes / MB:,.0f} MB limit (ASSAY_MAX_UPLOAD_MB); nothing was kept",
        ["url"],
    )


def _shown(url: str) -> str:
    """The URL without its query string (it may carry a signature or a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"  # (nor a user:password@)
