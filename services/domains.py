"""The list of domains: the one place a new domain is named. The server, the workers (server/job_kinds.py) and
GraphQL's `JobKind` (schema/jobs.py) are all assembled from it; services/jobs itself knows no domain."""

from __future__ import annotations

from services import maintenance_runs as maintenance
from services.analysis import service as analysis
from services.checks import service as checks
from services.comparison import service as comparison
from services.datasets import service as datasets
from services.jobs.kinds import Domain, JobKindSpec
from services.modeling import service as modeling
from services.pipelines import service as pipelines
from services.preprocessing import service as preprocessing
from services.profiling import service as profiling

# Each domain declares its kinds once (`JOB_KINDS` at the end of its service module); in this order GraphQL's
# JobKind lists them.
DOMAINS: tuple[Domain, ...] = (
    Domain(name="datasets", job_kinds=datasets.JOB_KINDS),
    Domain(name="profiling", job_kinds=profiling.JOB_KINDS),
    Domain(name="preprocessing", job_kinds=preprocessing.JOB_KINDS),
    Domain(name="modeling", job_kinds=modeling.JOB_KINDS),
    Domain(name="pipelines", job_kinds=pipelines.JOB_KINDS),
    Domain(name="analysis", job_kinds=analysis.JOB_KINDS),
    Domain(name="maintenance", job_kinds=maintenance.JOB_KINDS),
    Domain(name="checks", job_kinds=checks.JOB_KINDS),
    Domain(name="comparison", job_kinds=comparison.JOB_KINDS),
)


def job_kinds() -> dict[str, JobKindSpec]:
    """Every domain's kinds by name; a name declared twice is a mistake caught at start-up."""
    kinds: dict[str, JobKindSpec] = {}
    for domain in DOMAINS:
        if twice := kinds.keys() & domain.job_kinds.keys():
            raise ValueError(f"job kind(s) {', '.join(sorted(twice))} declared by {domain.name} and another domain")
        kinds.update(domain.job_kinds)
    return kinds
