"""The job registry, assembled from the list of domains (services/domains.py), for `python -m server` and
`python -m server.worker`: services/jobs itself knows no domain."""

from __future__ import annotations

from services import domains
from services.jobs.kinds import JobKindSpec, preload_modules
from services.webhooks.job_events import announce_job_endings

# Libraries every job body uses; importing them once in the fork server saves each job ~1.4 s.
LIBRARIES = [
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.parquet",
    "scipy.stats",
    "matplotlib.pyplot",
    "sklearn.impute",
]


def job_kinds() -> dict[str, JobKindSpec]:
    """Every domain's kinds, each ending also announced to webhooks (JOB_FINISHED)."""
    return announce_job_endings(kinds_of_domains())


def kinds_of_domains() -> dict[str, JobKindSpec]:
    return domains.job_kinds()


def worker_preload(kinds: dict[str, JobKindSpec]) -> list[str]:
    return preload_modules(kinds, LIBRARIES)
