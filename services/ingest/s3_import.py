"""importDataset from s3://bucket/key: an object the server's credentials can read (the standard AWS_*
variables), fetched by the INGEST job into the dataset's folder like an https:// import.

Never from the bucket Assay keeps its own files in: that would hand one user another's uploads. An
operator may narrow the readable buckets further (ASSAY_IMPORT_S3_BUCKETS).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from services import files
from services.errors import ErrorCode, ServiceError, invalid
from services.storage import objects


def is_s3_url(url: str) -> bool:
    return url.lower().startswith("s3://")


def check_s3_source(url: str, *, allowed_buckets: str, field: list[str]) -> tuple[str, str]:
    """(bucket, key) of an importable s3:// URL; INVALID_INPUT for a malformed or refused one."""
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key or key.endswith("/"):
        raise invalid("An s3:// import names one object: s3://bucket/key", field)
    store = objects.current()
    if store is not None and bucket == store.bucket:
        raise invalid("Objects of Assay's own storage bucket cannot be imported", field)
    allowed = {name.strip() for name in allowed_buckets.split(",") if name.strip()}
    if allowed and bucket not in allowed:
        raise invalid(f"The bucket {bucket!r} is not one imports may read (ASSAY_IMPORT_S3_BUCKETS)", field)
    return bucket, key


def download_s3(url: str, target: Path, *, max_bytes: int, log: Callable[[str], None]) -> int:
    """Fetch the object to `target` atomically; the bytes written. ServiceError when it cannot be read or is too
    large."""
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    client = objects.s3_client()
    try:
        size: int = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            raise ServiceError(ErrorCode.NOT_FOUND, f"No object at {url}") from None
        raise ServiceError(ErrorCode.FORBIDDEN, f"The server's credentials cannot read {url} ({code})") from None
    except BotoCoreError as exc:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"The object store could not be reached: {exc}") from None
    if size > max_bytes:
        raise ServiceError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The object ({size / 1048576:,.1f} MB) is larger than the {max_bytes // 1048576} MB limit",
        )
    log(f"Fetching {url} ({size:,} bytes)")
    with files.atomic_output(target) as temporary:
        client.download_file(bucket, key, str(temporary))
    log(f"Fetched {size:,} bytes")
    return size
