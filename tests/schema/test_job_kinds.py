"""The GraphQL JobKind enum and the job registry the server and workers assemble name the same kinds:
a kind the registry runs but the schema lacks would make `Job.kind` raise for every such job. And what the
GraphQL domains declare about kinds (what each makes, under which `Job` field) names real kinds and fields."""

from __future__ import annotations

import pytest

from schema.jobs import Job, JobKind
from server.job_kinds import job_kinds
from services.domains import DOMAINS
from services.jobs.kinds import Domain


def test_the_schema_declares_exactly_the_registered_job_kinds():
    assert [kind.value for kind in JobKind] == list(job_kinds())


def test_what_kinds_make_is_declared_for_registered_kinds_and_real_job_fields():
    from schema.root import DOMAINS as GRAPHQL_DOMAINS
    from schema.root import MADE

    registered = set(job_kinds())
    declared = [kind for domain in GRAPHQL_DOMAINS for kind in domain.makes]
    assert len(declared) == len(set(declared)), "a kind's products are declared by one domain"
    assert set(MADE) <= registered, "products declared for kinds nobody registers"
    fields = {f.python_name for f in Job.__strawberry_definition__.fields}
    links = {made.link for products in MADE.values() for made in products if made.link}
    assert links <= fields and {"pipeline_run", "analysis", "report", "comparison"} <= links


def test_a_kind_declared_by_two_domains_is_refused(monkeypatch):
    import services.domains as domains

    twice = Domain(name="copycat", job_kinds={"INGEST": next(iter(DOMAINS)).job_kinds["INGEST"]})
    monkeypatch.setattr(domains, "DOMAINS", (*DOMAINS, twice))
    with pytest.raises(ValueError, match="INGEST"):
        domains.job_kinds()


def test_every_domain_declares_itself_once():
    names = [domain.name for domain in DOMAINS]
    assert len(names) == len(set(names))
