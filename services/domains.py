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

# In this order GraphQL's JobKind lists their kinds.
DOMAINS: tuple[Domain, ...] = (
    datasets.DOMAIN,
    profiling.DOMAIN,
    preprocessing.DOMAIN,
    modeling.DOMAIN,
    pipelines.DOMAIN,
    analysis.DOMAIN,
    maintenance.DOMAIN,
    checks.DOMAIN,
    comparison.DOMAIN,
)


def job_kinds() -> dict[str, JobKindSpec]:
    """Every domain's kinds by name; a name declared twice is a mistake caught at start-up."""
    kinds: dict[str, JobKindSpec] = {}
    for domain in DOMAINS:
        if twice := kinds.keys() & domain.job_kinds.keys():
            raise ValueError(f"job kind(s) {', '.join(sorted(twice))} declared by {domain.name} and another domain")
        kinds.update(domain.job_kinds)
    return kinds
