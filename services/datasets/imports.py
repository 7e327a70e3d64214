"""importDataset: a dataset from an https:// URL, fetched and ingested by one INGEST job.

The URL is judged here, before any job: https only, and a host whose addresses the pipelines'
SSRF rules allow (ASSAY_ALLOWED_SOURCE_HOSTS opens private ones). The bytes are fetched by the
job (services.ingest.download), so a 20 GB file never passes through a request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from services.datasets.service import discarded_on_failure, ingest_params
from services.datasets.upload import display_name, validate_csv_options
from services.errors import invalid
from services.ingest.download import check_import_url
from services.ingest.s3_import import check_s3_source, is_s3_url
from services.jobs.engine import JobEngine
from services.names import MAX_NAME
from services.pipelines.ssrf import parse_allow_list, vetted_addresses
from services.storage.tables import Dataset, Job


@dataclass(frozen=True)
class ImportLimits:
    """What an import may fetch and from where (from the settings)."""

    allowed_hosts: str
    max_bytes: int
    max_decompressed_bytes: int
    max_sheet_rows: int
    stall_seconds: float
    extra_ca_file: str | None = None
    allowed_s3_buckets: str = ""  # ASSAY_IMPORT_S3_BUCKETS: empty = any the credentials read (never Assay's own)


async def import_from_url(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    url: str,
    name: str | None,
    csv_options: dict[str, Any],
    data_dir: Path,
    limits: ImportLimits,
    expires_at: datetime | None = None,
) -> tuple[Dataset, Job]:
    """A PENDING dataset and its queued INGEST job, which downloads `url` and ingests it; refusals come first."""
    options = validate_csv_options(csv_options)
    if name is not None and not name.strip():
        raise invalid("The name cannot be blank", ["name"])
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here, before anything is stored
    except ValueError as exc:  # e.g. "http://[::1" (an unclosed IPv6 address)
        raise invalid(f"Not a valid URL: {exc}", ["url"]) from exc
    allow = parse_allow_list(limits.allowed_hosts)
    if is_s3_url(url):  # read with the server's AWS credentials (services/ingest/s3_import.py)
        check_s3_source(url, allowed_buckets=limits.allowed_s3_buckets, field=["url"])
    else:
        check_import_url(url, ["url"])
        await asyncio.to_thread(vetted_addresses, parts.hostname or "", parts.port or 443, allow, ["url"])
    shown = display_name(unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname)
    dataset = Dataset(
        owner_id=owner_id,
        name=(name or shown).strip()[:MAX_NAME],
        file_name=shown,
        csv_options=options,
        expires_at=expires_at,
    )
    params = ingest_params(
        dataset, data_dir, max_decompressed_bytes=limits.max_decompressed_bytes, max_sheet_rows=limits.max_sheet_rows
    ) | {
        "import_url": url,
        "allowed_hosts": allow,
        "max_upload_bytes": limits.max_bytes,
        "stall_seconds": limits.stall_seconds,
        "extra_ca_file": limits.extra_ca_file,
    }
    async with discarded_on_failure(session, data_dir, dataset):
        job = await jobs.submit(
            session, owner_id=owner_id, kind="INGEST", dataset_id=dataset.id, params=params, record=dataset
        )
    return dataset, job
