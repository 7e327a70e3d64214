"""Stored results are typed (pydantic models in each domain's services package), and rows written before the
models existed still read the same through /graphql.

tests/schema/stored/before_typed_payloads.json holds a dataset's ingest info and columns, its profile.json, a
trained model's details, the TRAIN job's timeline and pipeline check results exactly as the code before the
models wrote them, with the /graphql answer that code gave for them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from schema.common import raw_id, to_global_id
from services import files
from services.ingest.info import IngestInfo
from services.modeling.details import ModelDetails
from services.pipelines.results import CheckResult
from services.profiling.stored import StoredProfile
from services.storage import db
from services.storage.tables import Dataset, Job, Model
from tests.support.graphql import gql

STORED = json.loads((Path(__file__).parent / "stored" / "before_typed_payloads.json").read_text())

OLDER = """query($id: ID!) { dataset(id: $id) {
  ingest { encoding delimiter decimal skippedLines format quoteChar paddedLines rejectedLines nulBytesRemoved
           encodingConfidence alerts { code } rejects { line } }
  models { edges { node { trainingRows sampled metrics { accuracy } cvScores confusionMatrix { labels }
                          featureImportances { feature } features { name } classes leaderboard { algorithm } } }
                          } } }"""


def _write_rows(settings, owner_id: str, *, ingest_info: dict, details: dict, timeline: list) -> str:
    """The rows as an earlier server left them in the database (no job ran here); returns the dataset's id."""
    dataset_id, model_id, job_id = STORED["raw_ids"]

    async def write() -> None:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            async with db.session_factory(engine)() as session:
                rows = [
                    Dataset(
                        id=dataset_id,
                        owner_id=owner_id,
                        name="ragged.csv",
                        file_name="ragged.csv",
                        size_bytes=1299,
                        status="READY",
                        row_count=61,
                        column_count=4,
                        columns=STORED["columns"],
                        ingest_info=ingest_info,
                    ),
                    Job(
                        id=job_id,
                        owner_id=owner_id,
                        kind="TRAIN",
                        status="SUCCEEDED",
                        stage="save",
                        progress=1.0,
                        params={"model_id": model_id},
                        timeline=timeline,
                        dataset_id=dataset_id,
                    ),
                    Model(
                        id=model_id,
                        owner_id=owner_id,
                        dataset_id=dataset_id,
                        name="ragged.csv → kind",
                        target="kind",
                        task="CLASSIFICATION",
                        algorithm="RANDOM_FOREST",
                        status="READY",
                        job_id=job_id,
                        training_seconds=10.5,
                        details=details,
                    ),
                ]
                for row in rows:  # in order: each row refers to the one before it
                    session.add(row)
                    await session.flush()
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(write())
    return dataset_id


def test_rows_written_before_the_models_read_the_same_through_graphql(client, settings, user):
    owner_id = raw_id(user["user"]["id"], "User")
    dataset_id = _write_rows(
        settings,
        owner_id,
        ingest_info=STORED["ingest_info"],
        details=STORED["model_details"],
        timeline=STORED["train_timeline"],
    )
    profile = files.profile_path(settings.resolved_data_dir, dataset_id)
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(json.dumps(STORED["profile"]))
    answer = gql(client, STORED["query"], {"id": to_global_id("Dataset", dataset_id)}, user["accessToken"])
    assert "errors" not in answer, answer["errors"]
    assert answer["data"] == STORED["answer"]
    assert json.dumps(answer["data"]) == json.dumps(STORED["answer"])  # JSON scalars keep their keys' order too
    # the fixture is not vacuous: it has rejects, alerts, a leaderboard and a timeline to compare
    shown = answer["data"]["dataset"]
    assert shown["ingest"]["rejects"][0]["line"] == 63 and shown["ingest"]["paddedLines"] == 1
    model = shown["models"]["edges"][0]["node"]
    assert (
        model["leaderboard"] and model["features"] and next(t["stage"] for t in model["job"]["timeline"]) == "prepare"
    )
    assert shown["profile"]["alerts"] and shown["profile"]["columns"][1]["numeric"]["mean"] is not None


def test_rows_from_before_newer_keys_existed_still_load(client, settings, user):
    """Ingest info from before format, alerts and line counts; a model row whose details were never filled."""
    owner_id = raw_id(user["user"]["id"], "User")
    dataset_id = _write_rows(
        settings,
        owner_id,
        timeline=[],
        details={},
        ingest_info={"encoding": "latin-1", "delimiter": ";", "has_header": True, "decimal": ",", "skip_rows": 2},
    )
    answer = gql(client, OLDER, {"id": to_global_id("Dataset", dataset_id)}, user["accessToken"])
    assert "errors" not in answer, answer["errors"]
    shown = answer["data"]["dataset"]
    assert shown["ingest"] == {
        "encoding": "latin-1",
        "delimiter": ";",
        "decimal": ",",
        "skippedLines": 2,
        "format": None,
        "quoteChar": None,
        "paddedLines": 0,
        "rejectedLines": 0,
        "nulBytesRemoved": 0,
        "encodingConfidence": None,
        "alerts": [],
        "rejects": [],
    }
    assert shown["models"]["edges"][0]["node"] == {
        "trainingRows": None,
        "sampled": None,
        "metrics": None,
        "cvScores": None,
        "confusionMatrix": None,
        "featureImportances": [],
        "features": [],
        "classes": None,
        "leaderboard": [],
    }


def _same(model: Any, stored: Any) -> None:
    assert model == stored, "writing through the model changed the stored JSON"


def test_writing_through_the_models_stores_what_was_stored_before():
    """The jobs now write through the models: the stored JSON is what the code before them wrote."""
    _same(IngestInfo.model_validate(STORED["ingest_info"]).stored(), STORED["ingest_info"])
    _same(StoredProfile.model_validate(STORED["profile"]).stored(), STORED["profile"])
    _same(ModelDetails.model_validate(STORED["model_details"]).model_dump(exclude_unset=True), STORED["model_details"])
    _same(
        [CheckResult.model_validate(c).model_dump(exclude_unset=True) for c in STORED["pipeline_checks"]],
        STORED["pipeline_checks"],
    )


def test_details_stored_with_a_failed_folds_null_score_still_load():
    """Before failed folds were refused, a fold's NaN score was stored as null and broke every read of the model."""
    candidate = {"algorithm": "HGB", "metric": "f1_macro", "fit_seconds": 0.1, "selected": False}
    details = ModelDetails.model_validate(
        {
            "cv_scores": [0.9, None, 0.8],
            "leaderboard": [{**candidate, "score": None}, {**candidate, "algorithm": "LOGISTIC", "score": 0.85}],
        }
    )
    assert details.cv_scores == [0.9, 0.8]
    assert [c.algorithm for c in details.leaderboard] == ["LOGISTIC"]


def test_a_misspelled_or_missing_required_key_is_an_error_not_a_silent_null():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        StoredProfile.model_validate({k: v for k, v in STORED["profile"].items() if k != "row_count"})
    with pytest.raises(ValidationError):
        IngestInfo.model_validate({"rejects": [{"line": 3, "txt": "a,b", "reason": "3 fields"}]})
