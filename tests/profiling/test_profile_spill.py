"""Duplicate rows of a table beyond the job's memory budget, through /graphql: DuckDB spills to the job's scratch dir
(and says how much in `sampling`), the count stays exact while comparing rows fits, becomes a stated count by row
hash when it does not, and the profile never fails for it; no spill file outlives the job."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.graphql import gql, ingest, wait_for_job
from tests.support.settings import make_settings

pytestmark = [
    pytest.mark.slow,  # 400,000 and 600,000-row tables of random text under a 64 MB budget (CI runs it)
    pytest.mark.one_database(reason="profiling within a memory budget"),
]

BUDGET_MB = 64
ROWS = 600_000

PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id, plots: false}) { job { id } errors { code } } }"
READ = """query($id: ID!) { dataset(id: $id) { profile {
  rowCount duplicateRows sampling
  approximations { figure column method rows sampleRows errorBound detail }
  columns { name count nullCount distinctCount } } } }"""


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_memory_mb=BUDGET_MB)


def twice_each(rows: int, note_bytes: int, notes: int = 1) -> bytes:
    """`rows` rows, each present twice in shuffled order: `notes` random hex notes of 2·note_bytes characters each
    and a number."""
    rng = np.random.default_rng(17)
    half = rows // 2
    which = rng.permutation(rows) % half
    columns = {
        f"note_{index}": np.array([rng.bytes(note_bytes).hex() for _ in range(half)], dtype=object)[which]
        for index in range(notes)
    }
    table = pa.table({**columns, "number": which % 1000})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=128 * 1024)
    return buffer.getvalue()


def profile(client, token, content: bytes, name: str) -> dict:
    dataset = ingest(client, token, content, name)
    assert dataset["status"] == "READY", (dataset["error"], dataset["job"])
    started = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]
    job = wait_for_job(client, token, started["job"]["id"], timeout=600)
    assert job["status"] == "SUCCEEDED", job["error"]
    return gql(client, READ, {"id": dataset["id"]}, token)["data"]["dataset"]["profile"]


def no_spill_files(settings) -> bool:
    scratch = settings.scratch_dir
    return not scratch.exists() or not [path for path in scratch.rglob("*") if path.is_file()]


def test_duplicate_rows_beyond_the_budget_spill_to_disk_and_stay_exact(client, token, settings):
    # 300,000 distinct rows of 60 characters: comparing them whole holds more than the engine's 64 MB
    found = profile(client, token, twice_each(ROWS, 30), "twice.parquet")
    assert found["rowCount"] == ROWS and found["duplicateRows"] == ROWS // 2
    sampling = found["sampling"]
    assert sampling["memory_mb"] == BUDGET_MB and sampling["spilled_bytes"] > 0  # it went to disk
    stated = {(a["figure"], a["column"]): a for a in found["approximations"]}
    assert ("DUPLICATE_ROWS", None) not in stated  # exact: every row sharing a hash was compared whole
    # The note's 300,000 levels were grouped exactly too (that aggregation fits the engine, spilling if it must);
    # what is sampled says so
    assert next(c for c in found["columns"] if c["name"] == "note_0")["distinctCount"] == ROWS // 2
    assert ("DISTINCT_COUNT", "note_0") not in stated
    assert (
        stated[("MIXED_TYPES", "note_0")]["sampleRows"] < ROWS
        and stated[("SEMANTIC_TYPES", None)]["method"] == "SAMPLE"
    )
    assert no_spill_files(settings)


def test_duplicate_rows_too_wide_to_compare_are_counted_by_hash_and_said_so(client, token, settings):
    # Eight 24-character notes a row: DuckDB cannot compare 200,000 such rows whole in 64 MB even on one thread
    # (it did fail the whole profile with OVER_BUDGET, as 1M x 20 mixed columns did within 100 MB)
    rows = 400_000
    found = profile(client, token, twice_each(rows, 12, notes=8), "wide.parquet")
    assert found["rowCount"] == rows and found["duplicateRows"] == rows // 2  # no two different rows share a hash
    stated = {(a["figure"], a["column"]): a for a in found["approximations"]}
    duplicates = stated[("DUPLICATE_ROWS", None)]
    assert duplicates["method"] == "ROW_HASH" and duplicates["rows"] == rows and "hash" in duplicates["detail"]
    assert no_spill_files(settings)
