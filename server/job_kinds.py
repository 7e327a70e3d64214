"""The job registry, assembled from every domain's declared kinds (used by `python -m server` and
`python -m server.worker`): services/jobs itself knows no domain."""
from __future__ import annotations

from services.analysis import service as analysis
from services.checks import service as checks
from services.comparison import service as comparison
from services.datasets import service as datasets
from services.jobs.kinds import JobKindSpec, preload_modules
from services import maintenance_runs as maintenance
from services.modeling import service as modeling
from services.pipelines import service as pipelines
from services.preprocessing import service as preprocessing
from services.profiling import service as profiling
from services.webhooks.job_events import announce_job_endings

# Libraries every job body uses; importing them once in the fork server saves each job ~1.4 s.
LIBRARIES = ["pandas", "pyarrow", "pyarrow.csv", "pyarrow.parquet", "scipy.stats", "matplotlib.pyplot", "sklearn.impute"]


def job_kinds() -> dict[str, JobKindSpec]:
    """Every domain's kinds, each ending also announced to webhooks (JOB_FINISHED)."""
    return announce_job_endings(kinds_of_domains())


def kinds_of_domains() -> dict[str, JobKindSpec]:
    return {**datasets.JOB_KINDS, **profiling.JOB_KINDS, **preprocessing.JOB_KINDS, **modeling.JOB_KINDS,
            **pipelines.JOB_KINDS, **analysis.JOB_KINDS, **maintenance.JOB_KINDS,
            **checks.JOB_KINDS, **comparison.JOB_KINDS}


def worker_preload(kinds: dict[str, JobKindSpec]) -> list[str]:
    return preload_modules(kinds, LIBRARIES)
