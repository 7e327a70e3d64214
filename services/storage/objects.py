"""The object store behind the data dir (ASSAY_STORAGE_URL=s3://bucket/prefix).

Every file the product keeps has one path under the data dir (services/files derives it from ids);
with a store configured the same relative path is the object's key under the prefix, the store is
the truth and the local data dir is a cache. Jobs keep working on local files: their inputs are
fetched before the body runs and their outputs published when it succeeds (services/storage/staging).

boto3 was chosen after measuring (bench/storage.py, bench/RESULTS.md "Object storage"): multipart
upload throughput of boto3, obstore and pyarrow's S3FileSystem was within this machine's noise of
each other (no client won both runs), a streamed GET was as fast as obstore's, and boto3 is the one
that also lists and aborts incomplete multipart uploads (and presigns), which the store needs anyway:
one client instead of two.
A put is atomic for readers: one PUT, or a multipart upload that is completed only once every part
is in (boto3 aborts it on an error; `abort_stale_uploads` aborts those of killed processes).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from pyarrow import fs

COPY_BUFFER = 8 * 1024 * 1024


@dataclass(frozen=True)
class StorageConfig:
    """What a job process needs to reach the store (its fork server may have started before the settings)."""

    url: str
    cache: str  # the data dir of the process that runs the job
    environment: dict[str, str]  # the AWS_* variables
    part_mb: int = 16  # multipart: below it one PUT, above it parts of this size, four at a time
    abandoned_upload_hours: float = 24  # the maintenance sweep aborts incomplete multipart uploads this old


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: float  # seconds since the epoch, as the store says (the local copy's mtime is set to it)


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix ending in '/' or empty) of an s3:// URL; ValueError when it is not one."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"ASSAY_STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


def aws_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in AWS_VARIABLES if os.environ.get(name)}


def s3_client() -> Any:  # boto3 ships no types: its clients are built at run time
    """A boto3 client from the standard AWS variables (AWS_ENDPOINT_URL for MinIO, Ceph, Garage, moto)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=16,
            s3={"addressing_style": "path"} if os.environ.get("AWS_ENDPOINT_URL") else None,
        ),
    )


class ObjectStore:
    """Keys are the data dir's relative paths under `prefix`; `cache` is this process's data dir."""

    def __init__(self, url: str, cache: Path, part_mb: int = 16, abandoned_upload_hours: float = 24) -> None:
        self.url = url
        self.abandoned_after = timedelta(hours=abandoned_upload_hours)
        self.part_bytes = max(5, part_mb) * 1024 * 1024  # S3's smallest part
        self.bucket, self.prefix = parse_url(url)
        self.cache = cache
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:  # boto3 clients are thread-safe once made, their creation is not
            if self._client is None:
                self._client = s3_client()
            return self._client

    # ------------------------------------------------------------------ keys
    def key(self, path: Path) -> str | None:
        """The key of a path under the cache, or None for a path outside it (never stored)."""
        try:
            relative = Path(path).resolve().relative_to(self.cache)
        except ValueError:
            return None
        return self.prefix + relative.as_posix()

    def path(self, key: str) -> Path:
        return self.cache / key[len(self.prefix) :]

    # ------------------------------------------------------------------ objects
    def head(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(key, answer["ContentLength"], answer["LastModified"].timestamp())

    def put(self, path: Path, key: str) -> StoredObject:
        """Upload a local file whole; readers see the old object or the new one, never a part."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.part_bytes, multipart_chunksize=self.part_bytes, max_concurrency=4
        )
        self.client.upload_file(str(path), self.bucket, key, Config=config)
        stored = self.head(key)
        assert stored is not None, key
        os.utime(path, (stored.modified, stored.modified))  # the local copy is now known to match
        return stored

    def get(self, key: str, target: Path, stored: StoredObject) -> None:
        """Download beside `target` and rename into place: a reader never sees half a file."""
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(handle)
        try:
            # One streamed GET: 4.5x faster than download_file's parallel ranged GETs in bench/storage.py
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            with open(temporary, "wb") as out:
                shutil.copyfileobj(body, out, COPY_BUFFER)
            os.utime(temporary, (stored.modified, stored.modified))
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[StoredObject]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], item["Size"], item["LastModified"].timestamp())

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the most one DeleteObjects takes
            chunk = keys[start : start + 1000]
            if chunk:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                )

    def arrow_filesystem(self) -> fs.S3FileSystem:
        """pyarrow's S3FileSystem on the same store (credentials from the standard variables): range reads."""
        from pyarrow import fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        options = {"endpoint_override": endpoint, "scheme": urlparse(endpoint).scheme or "https"} if endpoint else {}
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return fs.S3FileSystem(region=region, **options)

    def presign(self, key: str, *, seconds: int, file_name: str | None = None, media_type: str | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if file_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{file_name}"'
        if media_type:
            params["ResponseContentType"] = media_type
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        return url

    def abort_stale_uploads(self, older_than: timedelta) -> int:
        """Abort the multipart uploads under the prefix begun longer ago than `older_than` (killed writers')."""
        cutoff, aborted = datetime.now(UTC) - older_than, 0
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    def object_folders(self, folder: str) -> dict[str, float]:
        """Of the objects under `folder`/ (datasets, models, reports): by the id that names them, the newest change."""
        newest: dict[str, float] = {}
        start = f"{self.prefix}{folder}/"
        for stored in self.listing(start):
            name = stored.key[len(start) :].split("/", 1)[0].split(".", 1)[0]
            newest[name] = max(newest.get(name, 0.0), stored.modified)
        return newest

    def incomplete_uploads(self) -> list[str]:
        answer = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        return [upload["Key"] for upload in answer.get("Uploads", [])]


# ---------------------------------------------------------------------- this process's store
_store: ObjectStore | None = None


def configure(
    url: str | None, cache: Path | None, part_mb: int = 16, abandoned_upload_hours: float = 24
) -> ObjectStore | None:
    """Set (or, with no URL, clear) the store of this process; every process calls it at its start."""
    global _store
    _store = ObjectStore(url, Path(cache).resolve(), part_mb, abandoned_upload_hours) if url and cache else None
    return _store


def configure_from(config: StorageConfig | None) -> ObjectStore | None:
    """A server's or worker's store from its settings (`Settings.storage`); None clears it."""
    global _store
    if config is None:
        _store = None
        return None
    return configure(config.url, Path(config.cache), config.part_mb, config.abandoned_upload_hours)


def configure_job_process(config: StorageConfig) -> ObjectStore:
    os.environ.update(config.environment)
    store = configure(config.url, Path(config.cache), config.part_mb, config.abandoned_upload_hours)
    assert store is not None
    return store


def current() -> ObjectStore | None:
    return _store


def _located(path: Path) -> tuple[ObjectStore, str] | None:
    """This process's store and the key of `path` in it; None without a store or for a path it does not hold."""
    store = _store
    key = store.key(path) if store else None
    return (store, key) if store is not None and key is not None else None


def fetch(path: Path) -> Path:
    """Make sure the local copy of `path` is the stored one (downloading it when missing or stale); `path`.

    Without a store, or for a path the store does not hold, the local file is the truth: unchanged."""
    located = _located(path)
    if located is None:
        return path
    store, key = located
    stored = store.head(key)
    if stored is None:
        return path
    if not is_current(path, stored):
        store.get(key, path, stored)
    return path


def is_current(path: Path, stored: StoredObject) -> bool:
    """Whether the local file is the stored object's copy: a fetch or a put set its time to the object's."""
    try:
        local = path.stat()
    except FileNotFoundError:
        return False
    return local.st_size == stored.size and abs(local.st_mtime - stored.modified) <= 1e-3


def open_parquet(path: Path) -> pq.ParquetFile:
    """A ParquetFile of the stored copy: the local one when it is current, else read in place with range requests
    (a page of rows needs the footer and a row group, not the whole file: bench/storage.py measured 2.6-3x)."""
    import pyarrow.parquet as pq

    located = _located(path)
    if located is None:
        return pq.ParquetFile(path)
    store, key = located
    stored = store.head(key)
    if stored is None or is_current(path, stored):
        return pq.ParquetFile(path)
    return pq.ParquetFile(store.arrow_filesystem().open_input_file(f"{store.bucket}/{key}"))


def publish(path: Path) -> None:
    """Store a finished local file (a no-op without a store)."""
    located = _located(path)
    if located is not None and path.is_file():
        store, key = located
        store.put(path, key)


def exists(path: Path) -> bool:
    """Whether the file is kept: in the store when there is one, else on the local disk."""
    located = _located(path)
    if located is None:
        return path.exists()
    store, key = located
    return store.head(key) is not None


def forget(path: Path) -> None:
    """Delete a file, or every file under a folder, from the store (the local copy is the caller's)."""
    located = _located(path)
    if located is None:
        return
    store, key = located
    keys = [key] if store.head(key) is not None else []
    keys += [item.key for item in store.listing(key.rstrip("/") + "/")]
    store.delete(keys)
