"""The INGEST and PROFILE job bodies called in this process, and the ingest's end hooks on a real database.

No server, no worker process, no HTTP: the tier between the unit tests of pure logic and the API tests
(docs/testing.md). A body is a function of a JobContext, so a test gives it one that records what it
sends and calls it on a real file in a data dir, then hands its result to the hook the engine would call.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from services import files
from services.datasets import DatasetStatus
from services.datasets.service import on_ingest_failure, on_ingest_success
from services.errors import ErrorCode, ServiceError
from services.ingest.job import run_ingest
from services.jobs.context import JobContext
from services.profiling.job import run_profile
from services.profiling.service import read_profile
from services.storage import db
from services.storage.tables import Dataset, Job, User
from tests.support.settings import make_settings

# Semicolons and decimal commas, as a European spreadsheet exports them: the body has to detect both.
ROWS = [
    ("Oslo", "-3,5", 1, 10),
    ("Rome", "14,25", 2, 12),
    ("Lima", "19,0", 3, 7),
    ("Oslo", "-1,75", 4, 10),
    ("Rome", "15,5", 5, 11),
    ("Lima", "20,25", 6, 9),
]
TABLE = "city;temp;day;visits\n" + "".join(f"{c};{t};{d:02d}.02.2024;{v}\n" for c, t, d, v in ROWS)


def body_context(data_dir: Path, dataset_id: str, sent: list[tuple], **params: Any) -> JobContext:
    base = {
        "dataset_id": dataset_id,
        "data_dir": str(data_dir),
        "csv_options": {},
        "max_decompressed_bytes": 100 * 2**20,
        "max_sheet_rows": 1000,
    }
    scratch = data_dir / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    return JobContext(
        job_id="in-process",
        params=base | params,
        send=sent.append,
        is_cancelled=lambda: False,
        memory_mb=512,
        scratch_dir=scratch,
    )


def stored_upload(data_dir: Path, dataset_id: str, content: bytes) -> None:
    original = files.original_path(data_dir, dataset_id)
    original.parent.mkdir(parents=True, exist_ok=True)
    original.write_bytes(content)


def test_the_ingest_body_detects_the_dialect_and_writes_a_typed_parquet_copy(tmp_path):
    data_dir, sent = tmp_path / "data", []
    stored_upload(data_dir, "d1", TABLE.encode())
    result = run_ingest(body_context(data_dir, "d1", sent))
    assert (result["row_count"], result["column_count"]) == (6, 4)
    types = {c["name"]: c["semantic_type"] for c in result["columns"]}
    assert types["temp"] == "NUMERIC" and types["day"] == "DATETIME" and types["city"] in ("CATEGORICAL", "TEXT")
    copy = pq.read_table(files.parquet_path(data_dir, "d1")).to_pandas()
    assert copy["temp"].tolist() == [-3.5, 14.25, 19.0, -1.75, 15.5, 20.25]
    assert pd.Timestamp(copy["day"].iloc[1]) == pd.Timestamp("2024-02-02")  # day first, as the file writes it
    assert result["ingest_info"]["delimiter"] == ";" and result["ingest_info"]["decimal"] == ","
    stages = [message[1] for message in sent if message[0] == "stage"]
    assert stages[0] == "detect" and stages[-1] == "infer_types"
    assert any(m[0] == "log" and "Inferred types" in m[2] for m in sent)


def test_the_profile_body_profiles_the_parquet_copy_the_ingest_body_wrote(tmp_path):
    data_dir = tmp_path / "data"
    stored_upload(data_dir, "d2", TABLE.encode())
    ingested = run_ingest(body_context(data_dir, "d2", []))
    sent: list[tuple] = []
    summary = run_profile(body_context(data_dir, "d2", sent, columns=ingested["columns"], plots=False))
    assert summary["plots"] == 0
    profile = read_profile(data_dir, "d2")
    assert profile is not None and profile.row_count == 6
    temp = next(c for c in profile.columns if c.name == "temp")
    expected = pd.Series([-3.5, 14.25, 19.0, -1.75, 15.5, 20.25])
    assert temp.numeric is not None and temp.numeric.mean == pytest.approx(expected.mean())
    assert temp.numeric.std == pytest.approx(expected.std()) and temp.null_count == 0
    assert next(c for c in profile.columns if c.name == "city").distinct_count == 3
    assert any(m[0] == "log" and m[2].startswith("Profiled 6 rows x 4 columns") for m in sent)


def test_a_file_that_is_no_table_fails_the_body_with_a_typed_error(tmp_path):
    data_dir = tmp_path / "data"
    stored_upload(data_dir, "d3", bytes(range(256)) * 64)
    with pytest.raises(ServiceError) as refused:
        run_ingest(body_context(data_dir, "d3", []))
    assert refused.value.code == ErrorCode.PARSE_ERROR
    assert not files.parquet_path(data_dir, "d3").exists()


async def _ingest_end_on_database(url: str, data_dir: Path, result: dict | None, error: str | None) -> Dataset:
    """The rows an upload makes, then the end hook the engine calls for the job's outcome; the dataset read back."""
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as session:
            owner = User(email=f"{uuid.uuid4().hex}@example.com", password_hash="x")
            session.add(owner)
            await session.flush()  # no ORM relationships: the flush order is ours to keep
            dataset = Dataset(owner_id=owner.id, name="t", file_name="t.csv", status=DatasetStatus.INGESTING)
            session.add(dataset)
            await session.flush()
            job = Job(
                owner_id=owner.id,
                kind="INGEST",
                dataset_id=dataset.id,
                error=error,
                status="SUCCEEDED" if result else "FAILED",
                params={"dataset_id": dataset.id, "data_dir": str(data_dir)},
            )
            session.add(job)
            await session.flush()
            await (on_ingest_success(session, job, result) if result else on_ingest_failure(session, job, None))
            await session.commit()
        async with db.session_factory(engine)() as session:
            stored = await session.get(Dataset, dataset.id)
            assert stored is not None
            return stored
    finally:
        await engine.dispose()


def test_the_ingest_result_lands_on_the_dataset_row_of_a_real_database(tmp_path):
    settings = make_settings(tmp_path)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    db.migrate(settings.resolved_database_url)  # a no-op on PostgreSQL's clone of the migrated template
    stored_upload(settings.resolved_data_dir, "d4", TABLE.encode())
    result = run_ingest(body_context(settings.resolved_data_dir, "d4", []))
    url, data_dir = settings.resolved_database_url, settings.resolved_data_dir
    ready = asyncio.run(_ingest_end_on_database(url, data_dir, result, None))
    assert (ready.status, ready.row_count, ready.column_count) == (DatasetStatus.READY, 6, 4)
    assert [c["name"] for c in ready.columns] == ["city", "temp", "day", "visits"]
    assert ready.ingest_info["delimiter"] == ";"
    failed = asyncio.run(_ingest_end_on_database(url, data_dir, None, "Not a table"))
    assert (failed.status, failed.error, failed.row_count) == (DatasetStatus.FAILED, "Not a table", None)
