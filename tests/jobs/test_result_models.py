"""Every job kind declares the pydantic model of what its body returns (JobKindSpec.result, stored in Job.result),
and what today's bodies store validates against it, key for key.

Two sources of real results: tests/jobs/stored/job_results.json holds one stored result of every kind, copied from
the job rows today's code wrote in the suite's own end-to-end tests (exports, profiles, preprocessing, models,
pipeline sinks, analysis, maintenance, check suites, comparison); and the cheap kinds run here, through /graphql,
so a body that starts returning something its model does not describe fails this test at once.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlmodel import select

from server.job_kinds import job_kinds
from services.jobs.kinds import NoResult
from services.storage import db
from services.storage.tables import Job
from tests.support.graphql import gql, ingest, wait_for_job

STORED: dict[str, dict[str, Any]] = json.loads((Path(__file__).parent / "stored" / "job_results.json").read_text())
KINDS = job_kinds()


def _same_through_the_model(kind: str, stored: dict[str, Any]) -> None:
    """The stored result validates, and reads back through the model as the same JSON: no key the model drops
    (or misspells), none it adds."""
    model = KINDS[kind].result
    assert model.model_validate(stored).model_dump(mode="json", exclude_unset=True) == stored, kind


def test_every_kind_declares_a_result_model():
    undeclared = [kind for kind, spec in KINDS.items() if not issubclass(spec.result, BaseModel)]
    assert not undeclared, f"kinds without a result model: {undeclared}"
    # the empty model is for a body that returns nothing; every kind here stores something its readers use
    assert not [kind for kind, spec in KINDS.items() if spec.result is NoResult]


def test_a_stored_result_of_every_kind_reads_back_through_its_model():
    assert set(STORED) == set(KINDS), "tests/jobs/stored/job_results.json needs one stored result of each kind"
    for kind, stored in STORED.items():
        _same_through_the_model(kind, stored)


@pytest.mark.parametrize("kind", ["INGEST", "TRAIN", "VALIDATE", "COMPARE", "ANALYZE", "REPORT"])
def test_a_result_missing_what_its_readers_need_is_refused(kind):
    model = KINDS[kind].result
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    assert required, f"{kind}'s model requires nothing: any dict would pass"
    with pytest.raises(ValidationError):
        model.model_validate({k: v for k, v in STORED[kind].items() if k != required[0]})


PROFILE = """mutation($i: ProfileDatasetInput!) { profileDataset(input: $i) { job { id } errors { code } } }"""
PREPROCESS = """mutation($i: PreprocessDatasetInput!) { preprocessDataset(input: $i) {
  dataset { id } job { id } errors { code } } }"""
EXPORT = """mutation($i: ExportDatasetInput!) { exportDataset(input: $i) { job { id } errors { code } } }"""
COMPARE = """mutation($i: CompareDatasetsInput!) { compareDatasets(input: $i) { job { id } errors { code } } }"""
CSV = "city,temp,rain\n" + "".join(f"{'ABC'[i % 3]},{i},{'' if i % 4 == 0 else i / 2}\n" for i in range(40))


def _succeeded(client, token, payload: dict) -> dict:
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    return job


def _stored_results(settings) -> list[tuple[str, dict[str, Any]]]:
    async def read() -> list[tuple[str, dict[str, Any]]]:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            async with db.session_factory(engine)() as session:
                rows = (await session.exec(select(Job).where(Job.status == "SUCCEEDED"))).all()
                return [(row.kind, row.result or {}) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_the_cheap_kinds_store_results_their_models_describe(client, token, settings):
    dataset = ingest(client, token, CSV.encode(), "weather.csv")["id"]
    _succeeded(client, token, gql(client, PROFILE, {"i": {"datasetId": dataset}}, token)["data"]["profileDataset"])
    steps = [{"impute": {"columns": ["rain"], "strategy": "MEDIAN"}}, {"dropColumns": {"columns": ["city"]}}]
    made = gql(client, PREPROCESS, {"i": {"datasetId": dataset, "steps": steps}}, token)["data"]["preprocessDataset"]
    _succeeded(client, token, made)
    exported = gql(client, EXPORT, {"i": {"datasetId": dataset, "format": "JSONL"}}, token)["data"]["exportDataset"]
    _succeeded(client, token, exported)
    compared = gql(client, COMPARE, {"i": {"referenceId": dataset, "currentId": made["dataset"]["id"]}}, token)
    _succeeded(client, token, compared["data"]["compareDatasets"])

    stored = _stored_results(settings)
    assert sorted(kind for kind, _ in stored) == ["COMPARE", "EXPORT", "INGEST", "PREPROCESS", "PROFILE"]
    for kind, result in stored:
        _same_through_the_model(kind, result)
