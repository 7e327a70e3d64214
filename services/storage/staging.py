"""A job's files with an object store: inputs fetched into the local cache, outputs published on success.

Job bodies keep reading and writing the data dir as they always did. Around the body (in the job's
own process, services/jobs/worker_process.worker_main): the folders of every object the job's params name
(datasets/<id>/, models/<id>/, reports/<id>.html, pipelines/<id>/, users/<id>/) are brought up to
date from the store, and when the body succeeds — before the job can be marked SUCCEEDED — what it
wrote there is uploaded and what it removed is deleted. A body that fails or a process that is
killed publishes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from services import files
from services.storage import objects

ID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
# Folders of the data dir that hold one object's files, by the id that names them.
OBJECT_FOLDERS = (
    "datasets/{id}/",
    "models/{id}/",
    "reports/{id}.",
    "pipelines/{id}/",
    "users/{id}/",
    "comparisons/{id}/",
)
JOB_FOLDER = "analyses/{id}/"
# Fetched only for the jobs that read them: an upload's original bytes (ingest) are often the largest file.
FETCHED_ON_DEMAND = {"original": "csv_options", "export.csv": None}


def named_ids(params: Any, found: list[str] | None = None) -> list[str]:
    """The object ids a job's params name, anywhere in them (a pipeline's sources are nested)."""
    found = [] if found is None else found
    if isinstance(params, dict):
        for value in params.values():
            named_ids(value, found)
    elif isinstance(params, list):
        for value in params:
            named_ids(value, found)
    elif isinstance(params, str) and ID.match(params) and params not in found:
        found.append(params)
    return found


def _wanted(name: str, params: dict[str, Any]) -> bool:
    if name.startswith("."):
        return False
    if name in FETCHED_ON_DEMAND:
        needs = FETCHED_ON_DEMAND[name]
        return needs is not None and needs in params
    return True


class JobFiles:
    """One job's view of the store: `params` with the local data dir, `fetch_inputs`, `publish_outputs`."""

    def __init__(self, config: objects.StorageConfig, params: dict[str, Any], *, job_id: str | None = None) -> None:
        self.store = objects.configure_job_process(config)
        self.params = {**params, "data_dir": str(self.store.cache)} if "data_dir" in params else dict(params)
        self.prefixes = [
            self.store.prefix + folder.format(id=object_id)
            for object_id in named_ids(params)
            for folder in OBJECT_FOLDERS
        ]
        # A job's own resumable state (an ANALYZE job's finished stages): kept while it waits for an answer,
        # removed from the store once it has succeeded.
        self.job_prefix = f"{self.store.prefix}{JOB_FOLDER.format(id=job_id)}" if job_id else None
        if self.job_prefix:
            self.prefixes.append(self.job_prefix)
        self.before: dict[Path, tuple[int, float]] = {}

    def _local_files(self) -> dict[Path, tuple[int, float]]:
        found: dict[Path, tuple[int, float]] = {}
        for prefix in self.prefixes:
            start = self.store.path(prefix)
            candidates = start.rglob("*") if prefix.endswith("/") else start.parent.glob(start.name + "*")
            for path in candidates:
                if path.is_file() and not any(
                    part.startswith(".") for part in path.relative_to(self.store.cache).parts
                ):
                    stat = path.stat()
                    found[path] = (stat.st_size, stat.st_mtime)
        return found

    def fetch_inputs(self) -> None:
        for prefix in self.prefixes:
            for stored in self.store.listing(prefix):
                path = self.store.path(stored.key)
                if path.parent.name == files.EXPORTS:  # finished downloads: no job reads them back
                    continue
                if _wanted(path.name, self.params) and not objects.is_current(path, stored):
                    self.store.get(stored.key, path, stored)
        self.before = self._local_files()

    def publish_outputs(self, *, finished: bool = True) -> list[str]:
        """Upload what the body wrote, delete what it removed; the keys published."""
        after = self._local_files()
        published: list[str] = []
        if finished and self.job_prefix:
            self.store.delete([item.key for item in self.store.listing(self.job_prefix)])
            after = {
                path: state
                for path, state in after.items()
                if not (self.store.key(path) or "").startswith(self.job_prefix)
            }
            self.before = {
                path: state
                for path, state in self.before.items()
                if not (self.store.key(path) or "").startswith(self.job_prefix)
            }
        for path, state in after.items():
            if self.before.get(path) != state:
                key = self.store.key(path)
                if key is not None:  # always: every file listed is under the cache
                    self.store.put(path, key)
                    published.append(key)
        gone = [self.store.key(path) for path in self.before if path not in after]
        self.store.delete([key for key in gone if key])
        return published
