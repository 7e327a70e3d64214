"""The data directory: paths derived from ids only, atomic writes, and signed download tokens."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from services.storage import objects

DOWNLOAD_AUDIENCE = "assay-download"
SAFE_PLOT_NAME = re.compile(r"^[a-z_]+(_\d+)?\.png$")  # the only names the plot route will open


# The data dir's folders of each kind of object, one entry per id (the maintenance sweep lists them).
DATASETS, MODELS, REPORTS, COMPARISONS = "datasets", "models", "reports", "comparisons"
# Inside a dataset's folder: the files EXPORT jobs wrote for download (no job reads them back).
EXPORTS = "exports"


def dataset_dir(data_dir: Path, dataset_id: str) -> Path:
    return data_dir / DATASETS / dataset_id


def _dataset_file(name: str) -> Callable[[Path, str], Path]:
    """The path of `name` in a dataset's folder, from the data dir and the dataset's id."""

    def path(data_dir: Path, dataset_id: str) -> Path:
        return dataset_dir(data_dir, dataset_id) / name

    return path


original_path = _dataset_file("original")
parquet_path = _dataset_file("data.parquet")
rejects_path = _dataset_file("rejects.csv")  # the lines ingest rejected (line, reason, text), as CSV
upload_state_path = _dataset_file("upload.state")  # how an upload ingested while arriving ended (ingest.follow)
csv_export_path = _dataset_file("export.csv")
profile_path = _dataset_file("profile.json")
plots_dir = _dataset_file("plots")


def model_dir(data_dir: Path, model_id: str) -> Path:
    return data_dir / MODELS / model_id


def model_path(data_dir: Path, model_id: str) -> Path:
    return model_dir(data_dir, model_id) / "model.joblib"


def report_path(data_dir: Path, report_id: str) -> Path:
    return data_dir / REPORTS / f"{report_id}.html"


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        temporary_path.unlink(missing_ok=True)


def discard_partial_outputs(folder: Path) -> None:
    """Remove what atomic_output left behind when its process was killed mid-write."""
    for partial in folder.glob(".*.part"):
        partial.unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    """Delete a folder of an object's files, here and in the object store when there is one."""
    shutil.rmtree(path, ignore_errors=True)
    objects.forget(path)


def remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    objects.forget(path)


def fetched(path: Path) -> Path:
    """`path`, its local copy brought up to date from the object store first when there is one."""
    return objects.fetch(path)


def kept(path: Path) -> bool:
    """Whether a file exists where files are kept (the object store, else the data dir)."""
    return objects.exists(path)


def publish(path: Path) -> None:
    """Store a file written outside a job (an upload, an on-demand export) in the object store, if any."""
    objects.publish(path)


def job_data_dir(params: dict[str, Any]) -> Path:
    """The data dir a job's end hooks use: this process's cache with an object store (a job's params name the
    enqueuing replica's), else the one in the params."""
    store = objects.current()
    return store.cache if store is not None else Path(params["data_dir"])


def directory_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file()) if path.exists() else 0


def sign_download(*, secret: str, owner_id: str, kind: str, object_id: str, fmt: str, minutes: float) -> str:
    claims = {
        "sub": owner_id,
        "kind": kind,
        "oid": object_id,
        "fmt": fmt,
        "aud": DOWNLOAD_AUDIENCE,
        "exp": datetime.now(UTC) + timedelta(minutes=minutes),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_download(token: str, *, secret: str, kind: str, object_id: str, fmt: str) -> str | None:
    """The owner id the token was issued to, if it is valid for exactly this object and format."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=DOWNLOAD_AUDIENCE, options={"require": ["exp", "sub", "aud"]}
        )
    except jwt.PyJWTError:
        return None
    if (claims.get("kind"), claims.get("oid"), claims.get("fmt")) != (kind, object_id, fmt):
        return None
    owner_id: str = claims["sub"]
    return owner_id
