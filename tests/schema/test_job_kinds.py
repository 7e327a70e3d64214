"""The GraphQL JobKind enum and the job registry the server and workers assemble name the same kinds:
a kind the registry runs but the schema lacks would make `Job.kind` raise for every such job."""
from __future__ import annotations

from schema.jobs import JobKind
from server.job_kinds import job_kinds


def test_the_schema_declares_exactly_the_registered_job_kinds():
    assert {kind.value for kind in JobKind} == set(job_kinds())
