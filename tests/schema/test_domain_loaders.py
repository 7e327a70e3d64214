"""Each GraphQL domain declares its own DataLoaders (GraphQLDomain.loaders); `ctx.loaders.<name>` is assembled from
every domain's. A name two domains declare would reach only one of them, so it stops the server at start-up; a name
the code uses but no domain declares would fail at the first query that reaches it, so it is caught here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from resolvers.loaders import Loaders
from schema.domain import GraphQLDomain, loaders_of

ROOT = Path(__file__).resolve().parents[2]


def _by_id(loaders):
    return loaders.by_id(object)


def test_a_loader_two_domains_declare_is_refused_naming_both():
    from schema.root import DOMAINS

    copycat = GraphQLDomain(name="copycat", loaders={"dataset": _by_id})
    with pytest.raises(ValueError, match=r"'dataset' declared by datasets and copycat"):
        loaders_of((*DOMAINS, copycat))


def test_a_loader_named_like_the_loaders_own_helpers_is_refused():
    for name in ("batch", "by_id", "context", "_private"):
        with pytest.raises(ValueError, match=name):
            loaders_of((GraphQLDomain(name="odd", loaders={name: _by_id}),))


def test_the_schemas_loaders_are_every_domains_each_from_its_domain():
    from schema.root import DOMAINS, LOADERS

    declared = [name for domain in DOMAINS for name in domain.loaders]
    assert sorted(declared) == sorted(LOADERS)
    owner = {name: domain.name for domain in DOMAINS for name in domain.loaders}
    # each where its rows are: a newcomer finds a loader in the domain of what it loads
    assert owner["dataset"] == "datasets" and owner["model_for_job"] == "models" and owner["job"] == "jobs"
    assert owner["pipeline_stats"] == "pipelines" and owner["check_suite"] == "checks"


def test_every_loader_the_code_uses_is_declared_by_a_domain():
    from schema.root import LOADERS

    used: set[str] = set()
    for folder in ("schema", "resolvers"):
        for path in (ROOT / folder).glob("*.py"):
            if path.name == "domain.py":  # where the declarations are assembled, not used
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                # `<...>.loaders.<name>` and `loaders.<name>` (a local holding ctx.loaders)
                if isinstance(node, ast.Attribute) and (
                    (isinstance(node.value, ast.Attribute) and node.value.attr == "loaders")
                    or (isinstance(node.value, ast.Name) and node.value.id == "loaders")
                ):
                    used.add(node.attr)
    used -= {name for name in vars(Loaders) if not name.startswith("__")} | {"context"}
    assert used, "the scan found no loader uses: it no longer matches how the code reaches them"
    assert used <= set(LOADERS), f"used but declared by no domain: {sorted(used - set(LOADERS))}"
    assert {"dataset", "model_for_job", "last_succeeded_run", "comparison_for_job"} <= used


def test_a_request_makes_each_loader_once_and_an_unknown_name_is_an_attribute_error():
    class Context:
        user_id = "someone"

    def request() -> Loaders:
        return Loaders(Context())  # type: ignore[arg-type]  # only user_id is read when a loader is made

    loaders = request()
    assert loaders.dataset is loaders.dataset
    assert request().dataset is not loaders.dataset  # the next request gets its own
    with pytest.raises(AttributeError, match="no loader 'datasets'"):
        _ = loaders.datasets
