"""The job registry, assembled from every domain's declared kinds (used by `python -m server` and
`python -m server.worker`): services/jobs itself knows no domain."""
from __future__ import annotations

from services import datasets, profiles
from services.analysis import service as analysis
from services.jobs.kinds import JobKindSpec, preload_modules
from services.modeling import models
from services.pipelines import service as pipelines
from services.preprocessing import versions

# Libraries every job body uses; importing them once in the fork server saves each job ~1.4 s.
LIBRARIES = ["pandas", "pyarrow", "pyarrow.csv", "pyarrow.parquet", "scipy.stats", "matplotlib.pyplot", "sklearn.impute"]


def job_kinds() -> dict[str, JobKindSpec]:
    return {**datasets.JOB_KINDS, **profiles.JOB_KINDS, **versions.JOB_KINDS, **models.JOB_KINDS,
            **pipelines.JOB_KINDS, **analysis.JOB_KINDS}


def worker_preload(kinds: dict[str, JobKindSpec]) -> list[str]:
    return preload_modules(kinds, LIBRARIES)
