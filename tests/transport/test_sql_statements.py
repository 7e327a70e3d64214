"""Nested objects on a page of jobs cost a fixed number of SQL statements, whatever the page size.

Rows are written straight into the app's database (finished jobs, so the engine runs none of them); the query
goes through the real app over HTTP, and every statement the app's engine sends is counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from services import files
from services.storage.tables import Dataset, Job, Model, Pipeline, PipelineRun, Report, utcnow
from tests.support.graphql import gql, register

JOBS_QUERY = """query($first: Int) { jobs(first: $first) { edges { node {
  id kind dataset { name } model { algorithm } pipelineRun { id } report { id } } } } }"""
# The issue's own query: at most 5 statements in all, the caller's lookup included, whatever `first` is.
ISSUE_QUERY = "query($first: Int) { jobs(first: $first) { edges { node { dataset { name } model { algorithm } } } } }"
ISSUE_MAX_STATEMENTS = 5

# One statement loads the caller from the token, whatever the query asks; the rest is the query's own cost.
AUTH_STATEMENTS = 1
MAX_QUERY_STATEMENTS = 5


# Set while an HTTP request runs (and so in the tasks it starts, such as DataLoader batches), not in the job
# engine's and the scheduler's background loops, which share the engine and would make the count flaky.
IN_REQUEST: ContextVar[bool] = ContextVar("in_request", default=False)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    async def marked(scope: dict, receive: Any, send: Any) -> None:
        token = IN_REQUEST.set(scope["type"] == "http")
        try:
            await app(scope, receive, send)
        finally:
            IN_REQUEST.reset(token)

    with TestClient(marked) as test_client:
        test_client.assay = app.state.assay
        yield test_client


@contextmanager
def counted_statements(client: TestClient) -> Iterator[list[str]]:
    engine = client.assay.engine.sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if IN_REQUEST.get():
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def user_id(client: TestClient, token: str) -> str:
    from schema.common import raw_id

    return raw_id(gql(client, "{ me { id } }", token=token)["data"]["me"]["id"], "User")


def seed_jobs(client: TestClient, owner_id: str, count: int) -> dict[str, str]:
    """`count` finished jobs of four kinds, each linked to its own dataset, model, run or report."""
    state = client.assay
    data_dir = state.settings.resolved_data_dir
    expected: dict[str, str] = {}

    async def write() -> None:
        async with state.sessions() as session:
            config = {
                "source": {"kind": "dataset", "dataset_id": "x"},
                "steps": [],
                "sink": {"kind": "dataset", "name": "out"},
            }
            pipeline = Pipeline(owner_id=owner_id, name="p", config=config)
            session.add(pipeline)
            start = utcnow()
            for n in range(count):
                kind = ("TRAIN", "PREDICT", "PIPELINE", "REPORT")[n % 4]
                dataset = Dataset(owner_id=owner_id, name=f"d{n}", file_name="d.csv", status="READY")
                job = Job(
                    owner_id=owner_id,
                    kind=kind,
                    status="SUCCEEDED",
                    dataset_id=dataset.id,
                    created_at=start + timedelta(milliseconds=n),
                )
                session.add_all([dataset, job])
                await session.flush()
                if kind in ("TRAIN", "PREDICT", "REPORT"):
                    model = Model(
                        owner_id=owner_id,
                        dataset_id=dataset.id,
                        name=f"m{n}",
                        target="y",
                        task="REGRESSION",
                        algorithm="RIDGE",
                        status="READY",
                        job_id=job.id if kind == "TRAIN" else None,
                    )
                    session.add(model)
                    if kind != "TRAIN":
                        job.params = {**job.params, "model_id": model.id}
                if kind == "PIPELINE":
                    run = PipelineRun(
                        pipeline_id=pipeline.id, owner_id=owner_id, status="SUCCEEDED", job_id=job.id, config=config
                    )
                    session.add(run)
                    job.params = {"run_id": run.id}
                if kind == "REPORT":
                    report = Report(owner_id=owner_id, dataset_id=dataset.id, job_id=job.id)
                    session.add(report)
                    job.params = {**job.params, "report_id": report.id}
                    path = files.report_path(data_dir, report.id)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("<html></html>")
                expected[job.id] = kind
            await session.commit()

    client.portal.call(write)
    return expected


def test_nested_job_fields_cost_the_same_few_statements_for_10_and_100_jobs(client: TestClient) -> None:
    counts, issue_counts = {}, {}
    for size in (10, 100):
        token = register(client)["accessToken"]
        seed_jobs(client, user_id(client, token), size)
        with counted_statements(client) as statements:
            answer = gql(client, ISSUE_QUERY, {"first": size}, token=token)
        assert "errors" not in answer and len(answer["data"]["jobs"]["edges"]) == size, answer
        issue_counts[size] = len(statements)
        with counted_statements(client) as statements:
            result = gql(client, JOBS_QUERY, {"first": size}, token=token)
        assert "errors" not in result, result
        nodes = [edge["node"] for edge in result["data"]["jobs"]["edges"]]
        assert len(nodes) == size
        for node in nodes:  # every link resolves, so the count covers real loads
            assert node["dataset"]["name"].startswith("d")
            assert (node["model"] is not None) == (node["kind"] != "PIPELINE"), node
            if node["model"]:
                assert node["model"]["algorithm"] == "RIDGE"
            assert (node["pipelineRun"] is not None) == (node["kind"] == "PIPELINE"), node
            assert (node["report"] is not None) == (node["kind"] == "REPORT"), node
        counts[size] = len(statements)
    print(f"SQL statements for jobs(first: N) with nested objects: {counts}; the issue's query: {issue_counts}")
    assert issue_counts[10] == issue_counts[100] <= ISSUE_MAX_STATEMENTS, issue_counts
    assert counts[10] == counts[100], counts
    assert counts[100] <= AUTH_STATEMENTS + MAX_QUERY_STATEMENTS, counts


def test_links_to_another_users_objects_load_as_null(client: TestClient) -> None:
    """A job whose params name another user's model, run and report (and dataset) shows none of them."""
    mine, theirs = register(client)["accessToken"], register(client)["accessToken"]
    my_id, their_id = user_id(client, mine), user_id(client, theirs)
    seed_jobs(client, their_id, 4)
    state = client.assay

    async def borrow() -> str:
        from sqlmodel import select

        async with state.sessions() as session:
            their_jobs = {j.kind: j for j in (await session.exec(select(Job).where(Job.owner_id == their_id))).all()}
            params = {
                "model_id": their_jobs["PREDICT"].params["model_id"],
                "run_id": their_jobs["PIPELINE"].params["run_id"],
                "report_id": their_jobs["REPORT"].params["report_id"],
            }
            job = Job(
                owner_id=my_id,
                kind="REPORT",
                status="SUCCEEDED",
                dataset_id=their_jobs["TRAIN"].dataset_id,
                params=params,
            )
            piped = Job(owner_id=my_id, kind="PIPELINE", status="SUCCEEDED", params=params)
            session.add_all([job, piped])
            await session.commit()
            return job.id

    client.portal.call(borrow)
    nodes = [e["node"] for e in gql(client, JOBS_QUERY, {"first": 10}, token=mine)["data"]["jobs"]["edges"]]
    assert len(nodes) == 2
    for node in nodes:
        assert node["dataset"] is None and node["model"] is None and node["pipelineRun"] is None
        assert node["report"] is None
    # The owner still sees them, in the same request shape.
    their_nodes = [e["node"] for e in gql(client, JOBS_QUERY, {"first": 10}, token=theirs)["data"]["jobs"]["edges"]]
    assert all(n["dataset"] is not None for n in their_nodes)
    assert sum(n["pipelineRun"] is not None for n in their_nodes) == 1


PIPELINES_QUERY = """query($first: Int) { pipelines(first: $first) { edges { node {
  name lastRun { status } stats { runs succeeded failed meanSeconds rowsOut } outputSchema { name } } } } }"""


def seed_pipelines(client: TestClient, owner_id: str, count: int, runs_each: int = 3) -> None:
    """`count` pipelines, each with `runs_each` runs (the newest failed, the others succeeded)."""
    state = client.assay

    async def write() -> None:
        config = {
            "source": {"kind": "dataset", "dataset_id": "x"},
            "steps": [],
            "sink": {"kind": "dataset", "name": "o"},
        }
        async with state.sessions() as session:
            start = utcnow()
            for n in range(count):
                pipeline = Pipeline(owner_id=owner_id, name=f"p{n}", config=config)
                session.add(pipeline)
                await session.flush()
                for r in range(runs_each):
                    status = "FAILED" if r == runs_each - 1 else "SUCCEEDED"
                    began = start + timedelta(seconds=n * 10 + r)
                    session.add(
                        PipelineRun(
                            pipeline_id=pipeline.id,
                            owner_id=owner_id,
                            status=status,
                            config=config,
                            started_at=began,
                            finished_at=began + timedelta(seconds=2),
                            rows_out=10,
                            columns=[
                                {
                                    "name": f"c{r}",
                                    "index": 0,
                                    "semantic_type": "NUMERIC",
                                    "dtype": "int64",
                                    "null_count": 0,
                                }
                            ],
                            created_at=began,
                        )
                    )
            await session.commit()

    client.portal.call(write)


def test_a_page_of_pipelines_costs_the_same_statements_for_5_and_30(client: TestClient) -> None:
    counts = {}
    for size in (5, 30):
        token = register(client)["accessToken"]
        seed_pipelines(client, user_id(client, token), size)
        with counted_statements(client) as statements:
            result = gql(client, PIPELINES_QUERY, {"first": size}, token=token)
        assert "errors" not in result, result
        nodes = [edge["node"] for edge in result["data"]["pipelines"]["edges"]]
        assert len(nodes) == size
        for node in nodes:  # the newest run failed; the newest successful one gave the output's columns
            assert node["lastRun"] == {"status": "FAILED"}
            assert node["stats"] == {"runs": 3, "succeeded": 2, "failed": 1, "meanSeconds": 2.0, "rowsOut": 20}
            assert node["outputSchema"] == [{"name": "c1"}]
        counts[size] = len(statements)
    print(f"SQL statements for pipelines(first: N) with lastRun, stats, outputSchema: {counts}")
    assert counts[5] == counts[30] <= 6, counts  # the caller, the page, last runs, last successful runs, stats


DATASETS_QUERY = """query($first: Int) { datasets(first: $first) { edges { node {
  name parent { name } children { name } reports { id } } } } }"""


def seed_datasets(client: TestClient, owner_id: str, count: int) -> None:
    """`count` uploads, each with one derived version and one finished report."""
    state = client.assay
    data_dir = state.settings.resolved_data_dir

    async def write() -> None:
        async with state.sessions() as session:
            start = utcnow()
            for n in range(count):
                parent = Dataset(
                    owner_id=owner_id,
                    name=f"d{n}",
                    file_name="d.csv",
                    status="READY",
                    created_at=start + timedelta(seconds=2 * n),
                )
                session.add(parent)
                await session.flush()
                child = Dataset(
                    owner_id=owner_id,
                    name=f"d{n}-v2",
                    file_name="d.csv",
                    status="READY",
                    parent_id=parent.id,
                    created_at=start + timedelta(seconds=2 * n + 1),
                )
                report = Report(owner_id=owner_id, dataset_id=parent.id)
                session.add_all([child, report])
                await session.flush()
                path = files.report_path(data_dir, report.id)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("<html></html>")
            await session.commit()

    client.portal.call(write)


def test_a_page_of_datasets_with_versions_and_reports_costs_the_same_statements_for_5_and_30(
    client: TestClient,
) -> None:
    counts = {}
    for size in (5, 30):
        token = register(client)["accessToken"]
        seed_datasets(client, user_id(client, token), size)
        with counted_statements(client) as statements:
            result = gql(client, DATASETS_QUERY, {"first": 2 * size}, token=token)
        assert "errors" not in result, result
        nodes = {edge["node"]["name"]: edge["node"] for edge in result["data"]["datasets"]["edges"]}
        assert len(nodes) == 2 * size
        for n in range(size):
            upload, version = nodes[f"d{n}"], nodes[f"d{n}-v2"]
            assert upload["children"] == [{"name": f"d{n}-v2"}] and len(upload["reports"]) == 1
            assert upload["parent"] is None and version["parent"] == {"name": f"d{n}"} and version["children"] == []
        counts[size] = len(statements)
    print(f"SQL statements for datasets(first: 2N) with parent, children, reports: {counts}")
    assert counts[5] == counts[30] <= 6, counts  # the caller, the page (+ its count), parents, children, reports
