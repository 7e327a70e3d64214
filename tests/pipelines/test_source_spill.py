"""A paged JSON source larger than the job's memory budget: collection spills the records to a scratch file as
pages arrive, and the run stores what a generous budget stores — every row, columns that appear only on late
pages, types settled over all pages. Data that fits the budget is collected exactly as before.

The API is served locally; its records are made here."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from services.errors import ErrorCode, ServiceError
from services.pipelines.config import PipelineLimits
from services.pipelines.config.sources import HttpSource
from services.pipelines.job import collect_table
from services.pipelines.records import RecordPages
from services.pipelines.spill import Spill
from tests.pipelines.operations import Author
from tests.support.graphql import gql
from tests.support.http_fixtures import Request, Response, json_reply, serve, text_reply
from tests.support.settings import make_settings
from tests.users.test_auth import LOGIN

SMALL_MB = 8  # the job's share of it holds about five of these pages
PAGES = 24
PER_PAGE = 1_500
LATE_PAGE = 20  # "discount" first appears here
SPILL_LINE = f"its {SMALL_MB:,} MB memory budget: the source spilled to disk"


def record(n: int) -> dict:
    page = n // PER_PAGE
    found = {
        "id": n,
        "amount": n if page < 3 else n + 0.25,  # whole numbers on the first pages, then floats: a float column
        "code": f"{n:06d}",  # text of digits: read back as integers, as an upload's would be
        "day": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}",
        "status": "NA" if n % 9 == 0 else ["paid", "refunded"][n % 2],  # "NA" is the reader's null token
        "customer": {"name": f"c{n % 50}", "tier": n % 3},  # nested: flattened to dotted names
        "tags": ["a", "b"][: n % 3],  # a list: kept as JSON text
    }
    if page >= LATE_PAGE:
        found["discount"] = round(n % 7 * 0.5, 1)
    return found


def page_of_records(request: Request) -> Response:
    page = int(request.param("page", "1") or 1)
    start = (page - 1) * PER_PAGE
    if page > PAGES:
        return json_reply({"items": []})
    return json_reply({"items": [record(n) for n in range(start, start + PER_PAGE)]})


def broken_after_spilling(request: Request) -> Response:
    page = int(request.param("page", "1") or 1)
    if page == PAGES // 2:
        return text_reply("<html>maintenance</html>", "application/json")
    return page_of_records(request)


@pytest.fixture(scope="module")
def paged_api() -> Iterator[str]:
    yield from serve({"/records": page_of_records, "/broken": broken_after_spilling})


def app(tmp_path: Path, name: str, memory_mb: int) -> TestClient:
    settings = make_settings(tmp_path / name, allowed_source_hosts="127.0.0.1", job_memory_mb=memory_mb)
    client = TestClient(create_app(settings))
    client.settings = settings
    return client


SOURCE = {"url": "", "pageParam": "page", "recordsPath": "items", "maxPages": 100}


def collect_into_a_dataset(client: TestClient, url: str) -> tuple[dict, pd.DataFrame, str]:
    return collect_into_a_dataset_from(client, {**SOURCE, "url": url})


def collect_into_a_dataset_from(client: TestClient, http: dict) -> tuple[dict, pd.DataFrame, str]:
    """A new user's pipeline from the `http` source into a dataset, run: the pipeline, the stored rows, the log."""
    result = Author(client).create_and_run(name="orders", source={"http": http}, sink={"dataset": {"name": "orders"}})
    log = "\n".join(entry["message"] for entry in result["job"]["logs"])
    assert result["job"]["status"] == "SUCCEEDED", log
    dataset_id = raw_id(result["lastRun"]["dataset"]["id"], "Dataset")
    stored = pq.read_table(client.settings.resolved_data_dir / "datasets" / dataset_id / "data.parquet")
    return result, stored.to_pandas(), log


@pytest.mark.slow  # 36,000 records collected twice
def test_a_paged_source_beyond_the_budget_spills_to_disk_and_stores_what_a_generous_budget_stores(tmp_path, paged_api):
    with app(tmp_path, "small", SMALL_MB) as small:  # one app at a time: on PostgreSQL they share the database
        spilled, out_small, log_small = collect_into_a_dataset(small, f"{paged_api}/records")
        scratch_left = list(small.settings.scratch_dir.glob("*/*"))
    with app(tmp_path, "large", 2048) as large:
        whole, out_large, log_large = collect_into_a_dataset(large, f"{paged_api}/records")

    assert SPILL_LINE in log_small and "spilled records on disk" in log_small
    assert "spilled to disk" not in log_large
    assert f"Page {PAGES}: {PER_PAGE:,} record(s)" in log_small  # collection went on after spilling
    assert spilled["outputSchema"] == whole["outputSchema"]
    assert spilled["lastRun"]["rowsOut"] == PAGES * PER_PAGE == whole["lastRun"]["rowsOut"]
    pd.testing.assert_frame_equal(out_small, out_large)

    assert list(out_small.columns) == [
        "id",
        "amount",
        "code",
        "day",
        "status",
        "customer.name",
        "customer.tier",
        "tags",
        "discount",
    ]
    assert out_small["id"].tolist() == list(range(PAGES * PER_PAGE))
    assert str(out_small["amount"].dtype) == "float64" and out_small["amount"].iloc[5] == 5.0
    assert str(out_small["code"].dtype) == "int64" and out_small["code"].iloc[42] == 42
    assert out_small["day"].iloc[29] == datetime.date(2024, 6, 2)  # a date column, as an upload's
    assert out_small["status"].isna().sum() == len(range(0, PAGES * PER_PAGE, 9))
    assert out_small["tags"].iloc[2] == '["a","b"]'
    late = LATE_PAGE * PER_PAGE
    assert str(out_small["discount"].dtype) == "float64"
    assert out_small["discount"].iloc[:late].isna().all()
    assert out_small["discount"].iloc[late:].tolist() == [round(n % 7 * 0.5, 1) for n in range(late, PAGES * PER_PAGE)]
    assert scratch_left == []  # the segments and the typed copy went with the job


def test_a_run_whose_source_breaks_after_spilling_fails_saying_why_and_leaves_nothing(tmp_path, paged_api):
    with app(tmp_path, "small", SMALL_MB) as client:
        result = Author(client).create_and_run(
            name="broken",
            source={"http": {**SOURCE, "url": f"{paged_api}/broken"}},
            sink={"dataset": {"name": "broken"}},
        )
        scratch_left = list(client.settings.scratch_dir.glob("*/*"))
        datasets = list((client.settings.resolved_data_dir / "datasets").glob("*/data.parquet"))
    log = "\n".join(entry["message"] for entry in result["job"]["logs"])
    assert result["job"]["status"] == "FAILED" and SPILL_LINE in log
    assert "did not answer JSON" in result["job"]["error"] and "did not answer JSON" in result["lastRun"]["error"]
    assert scratch_left == [] and datasets == []


def limits(max_records: int = 1_000_000) -> PipelineLimits:
    return PipelineLimits(allowed_hosts="127.0.0.1", max_source_bytes=2**26, max_records=max_records)


def test_a_source_failing_after_it_spilled_leaves_no_scratch_file_and_says_why(tmp_path, paged_api):
    logs: list[str] = []
    spill = Spill(tmp_path, SMALL_MB, "run", lambda message, level: logs.append(message))
    source = HttpSource.model_validate({**SOURCE, "url": f"{paged_api}/broken"})
    with pytest.raises(ServiceError) as failed:
        collect_table(source, limits(), lambda message, level: logs.append(message), spill)
    assert failed.value.code == ErrorCode.PARSE_ERROR and "did not answer JSON" in failed.value.message
    assert any(SPILL_LINE in line for line in logs)  # it failed after spilling
    assert list(tmp_path.iterdir()) == []

    too_many = PER_PAGE * 10
    with pytest.raises(ServiceError) as refused:
        collect_table(
            HttpSource.model_validate({**SOURCE, "url": f"{paged_api}/records"}), limits(too_many), print, spill
        )
    assert refused.value.code == ErrorCode.PAYLOAD_TOO_LARGE and f"{too_many:,}" in refused.value.message
    assert list(tmp_path.iterdir()) == []


def pages_of(records: list[dict], size: int) -> list[list[dict]]:
    return [records[start : start + size] for start in range(0, len(records), size)]


def collected(pages: list[list[dict]], spill: Spill | None) -> pa.Table | Path:
    gathered = RecordPages(spill)
    for page in pages:
        gathered.add(page)
    return gathered.result()


def test_records_that_fit_the_budget_are_collected_exactly_as_without_spilling(tmp_path):
    pages = pages_of([record(n) for n in range(6_000)], 500)
    before = RecordPages()
    for page in pages:
        before.add(page)
    logs: list[str] = []
    fits = collected(pages, Spill(tmp_path, 2048, "fits", lambda message, level: logs.append(message)))
    assert isinstance(fits, pa.Table) and fits.equals(before.to_table())
    assert logs == [] and list(tmp_path.iterdir()) == []


def test_spilled_pages_are_typed_as_the_whole_table_would_be(tmp_path):
    """Columns that come late, numbers that become floats, text that turns out not to be numbers, dates, objects,
    a column of nothing but null tokens, a page mixing kinds in one column: the file typed segment by segment holds
    the table typed at once."""
    records = []
    for n in range(8_000):
        item = {
            "n": n,
            "ratio": n if n < 3_000 else n / 8,
            "ref": str(n) if n < 7_000 else f"R{n}",  # digits until the last pages: text after all
            "at": f"2024-02-{1 + n % 28:02d} 10:{n % 60:02d}:00" if n % 11 else None,
            "missing": "n/a" if n % 2 else None,
            "empty": {} if n % 3 else {"k": n},
            "mixed": n if n < 7_000 else f"R{n}",  # numbers, then text within one page: the Python pass
        }
        if n >= 6_500:
            item["late"] = f"{n % 4 == 0}".lower()
        records.append(item)
    pages = pages_of(records, 400)
    whole = collected(pages, None)
    spill = Spill(tmp_path, 1, "small", lambda message, level: None)
    on_disk = collected(pages, spill)
    assert isinstance(whole, pa.Table) and isinstance(on_disk, Path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["small-collected.parquet"]  # segments removed
    read = pq.read_table(on_disk)
    assert read.equals(whole.cast(read.schema))  # Parquet keeps second timestamps as milliseconds
    assert {name: str(kind) for name, kind in zip(whole.column_names, whole.schema.types, strict=True)} == {
        "n": "int64",
        "ratio": "double",
        "ref": "string",
        "at": "timestamp[s]",
        "missing": "null",
        "empty.k": "int64",
        "mixed": "string",
        "late": "bool",
        "empty": "string",  # `{}` as JSON text, from the page where the Python pass took over
    }


ADMIN = {"email": "root@example.com", "password": "admin password 1"}


def file_run(tmp_path: Path, name: str, memory_mb: int, folder: Path) -> tuple[dict, pd.DataFrame, str]:
    settings = make_settings(
        tmp_path / name,
        admin_email=ADMIN["email"],
        admin_password=ADMIN["password"],
        import_dirs=str(folder),
        job_memory_mb=memory_mb,
    )
    with TestClient(create_app(settings)) as client:
        admin = Author(client, gql(client, LOGIN, ADMIN)["data"]["login"]["accessToken"])
        result = admin.create_and_run(
            name="big file", source={"file": {"path": "big.csv"}}, sink={"dataset": {"name": "big"}}
        )
        log = "\n".join(entry["message"] for entry in result["job"]["logs"])
        assert result["job"]["status"] == "SUCCEEDED", log
        dataset_id = raw_id(result["lastRun"]["dataset"]["id"], "Dataset")
        stored = pq.read_table(settings.resolved_data_dir / "datasets" / dataset_id / "data.parquet").to_pandas()
        scratch_left = list(settings.scratch_dir.glob("*/*"))
    assert scratch_left == []
    return result, stored, log


@pytest.mark.slow  # a 60,000-line file read twice
def test_a_server_file_beyond_the_budget_is_read_chunk_by_chunk_into_what_a_generous_budget_reads(tmp_path):
    folder = tmp_path / "imports"
    folder.mkdir()
    lines = ["id,amount,day,label"] + [
        f"{n},{n * 0.5},2024-{1 + n % 12:02d}-{1 + n % 28:02d},{'NA' if n % 7 == 0 else f'item {n % 40}'}"
        for n in range(60_000)
    ]
    (folder / "big.csv").write_text("\n".join(lines) + "\n")
    streamed, out_small, log_small = file_run(tmp_path, "small", SMALL_MB, folder)
    whole, out_large, log_large = file_run(tmp_path, "large", 2048, folder)
    assert f"big.csv would not fit the job's share of {SPILL_LINE}" in log_small
    assert "chunk by chunk" in log_small and "spilled to disk" not in log_large
    assert streamed["outputSchema"] == whole["outputSchema"]
    assert streamed["lastRun"]["rowsOut"] == 60_000 == whole["lastRun"]["rowsOut"]
    pd.testing.assert_frame_equal(out_small, out_large)
    assert out_small["label"].isna().sum() == len(range(0, 60_000, 7))


def test_scraped_rows_beyond_the_budget_spill_and_keep_every_field(tmp_path):
    """A scraped page gives its rows column by column; every field stays a column, even one no row filled."""

    def scraped(spill: Spill | None) -> pa.Table | Path:
        rows = RecordPages(spill, columns=["title", "price", "link"])
        for page in range(30):
            count = 300
            rows.add_columns(
                count,
                {
                    "title": [f"item {page}-{i}" for i in range(count)],
                    "price": [f"{i}.5" if page < 25 else "sold out" for i in range(count)],  # text after all
                    "link": [None] * count,
                },
            )
        return rows.result()

    whole = scraped(None)
    on_disk = scraped(Spill(tmp_path, 1, "scrape", lambda message, level: None))
    assert isinstance(whole, pa.Table) and isinstance(on_disk, Path)
    read = pq.read_table(on_disk)
    assert read.equals(whole) and read.num_rows == 9_000
    assert [str(kind) for kind in read.schema.types] == ["string", "string", "null"]


def test_a_lone_text_column_with_nulls_keeps_every_row():
    """A null in the only text column to type was written back as an empty line, which the reader skipped."""
    gathered = RecordPages()
    gathered.add([{"id": 1, "code": "7"}, {"id": 2, "code": None}, {"id": 3, "code": "9"}])
    table = gathered.to_table()
    assert table.column("code").type == pa.int64() and table.column("code").to_pylist() == [7, None, 9]
