"""Upload and ingest through the real endpoint: messy real-life files read right, bad ones refused clearly."""

from __future__ import annotations

import gzip
import io

import pyarrow.parquet as pq
import pytest

from tests.support.data import CORPUS
from tests.support.graphql import DATASET, gql, ingest, upload, wait_for_job
from tests.support.settings import make_settings


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def column_types(dataset: dict) -> dict[str, str]:
    return {c["name"]: c["semanticType"] for c in dataset["columns"]}


def test_real_looking_csv_is_typed_and_previewed(client, token):
    lines = ["order_id,customer,amount,placed_at,paid,notes"]
    for i in range(1, 121):
        lines.append(
            f"{i},{['acme', 'globex', 'initech'][i % 3]},{i * 1.25:.2f},2024-03-{1 + i % 28:02d} 10:{i % 60:02d}:00,"
            f'{"true" if i % 2 else "false"},"{"a longer free text comment about order number " + str(i)}"'
        )
    dataset = ingest(client, token, ("\n".join(lines) + "\n").encode(), "orders.csv")
    assert dataset["status"] == "READY" and dataset["rowCount"] == 120 and dataset["columnCount"] == 6
    assert column_types(dataset) == {
        "order_id": "IDENTIFIER",
        "customer": "CATEGORICAL",
        "amount": "NUMERIC",
        "placed_at": "DATETIME",
        "paid": "BOOLEAN",
        "notes": "TEXT",
    }
    dtypes = {c["name"]: c["dtype"] for c in dataset["columns"]}
    assert dtypes["amount"] == "float64" and dtypes["order_id"] == "int64" and dtypes["paid"] == "bool"
    assert dataset["rows"]["rows"][0][:3] == [1, "globex", 1.25]
    assert dataset["rows"]["totalRows"] == 120
    logs = [entry["message"] for entry in dataset["job"]["logs"]]
    assert any("Encoding utf-8, delimiter ','" in m for m in logs)
    assert any("Parsed 120 rows x 6 columns" in m for m in logs)
    assert any(m.startswith("Inferred types:") for m in logs)


def test_semicolon_and_decimal_comma(client, token):
    dataset = ingest(client, token, corpus("semicolon_decimal_comma.csv"))
    assert dataset["ingest"]["delimiter"] == ";" and dataset["ingest"]["decimal"] == ","
    assert column_types(dataset)["Preis"] == "NUMERIC"
    assert column_types(dataset)["Datum"] == "DATETIME"
    assert [row[3] for row in dataset["rows"]["rows"]] == [4.5, 2.25, 0.99, 1.15]
    assert dataset["rows"]["rows"][0][0].startswith("2024-02-01")
    assert dataset["rows"]["rows"][2][1] == "Äpfel"


def test_cp1252(client, token):
    dataset = ingest(client, token, corpus("cp1252.csv"))
    assert dataset["ingest"]["encoding"] == "cp1252"
    assert dataset["rows"]["rows"][0] == ["Montréal", "“great” café", "€5"]


@pytest.mark.parametrize(("name", "encoding"), [("utf8_bom.csv", "utf-8-sig"), ("utf16_bom.csv", "utf-16")])
def test_byte_order_marks(client, token, name, encoding):
    dataset = ingest(client, token, corpus(name))
    assert dataset["ingest"]["encoding"] == encoding
    assert dataset["rows"]["columns"] == ["name", "age"]
    assert dataset["rows"]["rows"] == [["Åsa", 31], ["Björn", 45]]


def test_tabs(client, token):
    dataset = ingest(client, token, corpus("tabs.tsv"), "stock.tsv")
    assert dataset["ingest"]["delimiter"] == "\t"
    assert column_types(dataset) == {"sku": "CATEGORICAL", "qty": "NUMERIC", "in_stock": "BOOLEAN"}


def test_quoted_newlines_and_doubled_quotes_with_crlf(client, token):
    dataset = ingest(client, token, corpus("quoted_newlines.csv"))
    assert dataset["rowCount"] == 3
    comments = [row[1] for row in dataset["rows"]["rows"]]
    assert comments[0] in ("Line one\r\nline two", "Line one\nline two")
    assert comments[1:] == ['She said "hello"', "comma, inside"]


def test_cr_only_line_endings(client, token):
    dataset = ingest(client, token, corpus("cr_only.csv"))
    assert dataset["rows"]["rows"] == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_comment_and_blank_lines_before_header(client, token):
    dataset = ingest(client, token, corpus("preamble.csv"))
    assert dataset["ingest"]["skippedLines"] == 3
    assert dataset["rows"]["columns"] == ["x", "y"] and dataset["rowCount"] == 3


def test_null_tokens(client, token):
    dataset = ingest(client, token, corpus("null_tokens.csv"))
    nulls = {c["name"]: c["nullCount"] for c in dataset["columns"]}
    assert nulls == {"k": 0, "v": 3, "w": 3}
    assert column_types(dataset)["v"] == "NUMERIC"


def test_explicit_na_values_override_defaults(client, token):
    dataset = ingest(client, token, b"a,b\nx,missing\ny,NA\nz,3\n", csv={"naValues": ["missing"]})
    assert [row[1] for row in dataset["rows"]["rows"]] == [None, "NA", "3"]


def test_headerless_file_gets_positional_names(client, token):
    dataset = ingest(client, token, corpus("no_header.csv"))
    assert dataset["ingest"]["hasHeader"] is False
    assert dataset["rows"]["columns"] == ["column_1", "column_2", "column_3"] and dataset["rowCount"] == 4


def test_runs_of_spaces(client, token):
    dataset = ingest(client, token, corpus("spaces.txt"), "people.txt")
    assert dataset["ingest"]["delimiter"] == "whitespace"
    assert dataset["rows"]["rows"][1] == ["bob", 1.8, 80.5]


def test_pipes_and_explicit_options(client, token):
    dataset = ingest(client, token, corpus("pipes.txt"), "p.txt")
    assert dataset["ingest"]["delimiter"] == "|" and column_types(dataset)["c"] == "DATETIME"
    forced = ingest(client, token, b"1;2\n3;4\n", csv={"delimiter": ";", "hasHeader": True})
    assert forced["rows"]["columns"] == ["1", "2"] and forced["rowCount"] == 1


def test_gzip_upload(client, token):
    dataset = ingest(client, token, corpus("gzipped.csv.gz"), "squares.csv.gz")
    assert dataset["rowCount"] == 1000 and dataset["rows"]["rows"][3] == [3, 9]


def test_parquet_copy_beside_the_original(client, token, settings):
    dataset = ingest(client, token, corpus("tabs.tsv"))
    from schema.common import raw_id

    folder = settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset")
    assert (folder / "original").read_bytes() == corpus("tabs.tsv")
    assert pq.read_table(folder / "data.parquet").num_rows == 3
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


def test_large_file_is_parsed_and_written_in_one_pass(client, token, settings):
    """~10 MB: more than one parser block, so the Parquet copy is written batch by batch."""
    rows = 400_000
    body = "id,when,amount\n" + "".join(f"{i},{1 + i % 28:02d}.01.2024,{i * 0.5}\n" for i in range(rows))
    dataset = ingest(client, token, body.encode(), "big.csv")
    assert dataset["status"] == "READY" and dataset["rowCount"] == rows
    assert column_types(dataset)["when"] == "DATETIME"
    logs = [entry["message"] for entry in dataset["job"]["logs"]]
    assert not any("whole file" in m for m in logs)
    from schema.common import raw_id

    parquet = pq.ParquetFile(
        settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet"
    )
    assert parquet.metadata.num_rows == rows and parquet.metadata.num_row_groups == 4  # 128k-row groups
    assert str(parquet.schema_arrow.field("when").type).startswith("timestamp")


def test_a_type_that_changes_after_the_first_block_reads_the_whole_file(client, token):
    """The chunked reader fixes types from its first 16 MB chunk; the whole-file reader widens them."""
    body = "code,label\n" + "".join(f"{i},x\n" for i in range(2_000_000)) + "A-17,y\n"
    assert len(body) > 16 << 20
    dataset = ingest(client, token, body.encode(), "codes.csv")
    assert dataset["status"] == "READY" and dataset["rowCount"] == 2_000_001
    assert {c["name"]: c["dtype"] for c in dataset["columns"]}["code"] in ("str", "string", "object")
    logs = [entry["message"] for entry in dataset["job"]["logs"]]
    assert any("Reading the whole file at once" in m for m in logs)


@pytest.mark.parametrize(
    ("name", "message", "csv"),
    [
        ("ragged.csv", "Line 4 has 4 fields where the header has 3", {"onBadLines": "FAIL"}),
        ("header_only.csv", "header but no data rows", None),
    ],
)
def test_bad_content_ends_failed_with_reason(client, token, settings, name, message, csv):
    payload = upload(client, token, corpus(name), csv=csv)["data"]["uploadDataset"]
    job = wait_for_job(client, token, payload["job"]["id"])
    assert job["status"] == "FAILED" and message in job["error"]
    dataset = gql(client, DATASET, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "FAILED" and message in dataset["error"]
    from schema.common import raw_id

    assert not (settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet").exists()


@pytest.mark.parametrize(
    ("name", "code", "hint"),
    [
        ("empty.csv", "PARSE_ERROR", "empty"),
        ("fake.xlsx", "UNSUPPORTED_FILE", "not a workbook"),
        ("binary.csv", "UNSUPPORTED_FILE", "binary"),
    ],
)
def test_refused_uploads_leave_nothing(client, token, settings, name, code, hint):
    payload = upload(client, token, corpus(name), name)["data"]["uploadDataset"]
    assert payload["dataset"] is None and payload["job"] is None
    assert payload["errors"][0]["code"] == code and hint in payload["errors"][0]["message"]
    datasets_dir = settings.resolved_data_dir / "datasets"
    assert not datasets_dir.exists() or not any(datasets_dir.iterdir())
    assert not list((settings.resolved_data_dir / "uploads").glob("*"))  # the staged upload went too
    listed = gql(client, "{ datasets { totalCount } jobs { totalCount } }", token=token)["data"]
    assert listed == {"datasets": {"totalCount": 0}, "jobs": {"totalCount": 0}}


def test_xlsx_judged_by_bytes_not_name(client, token):
    payload = upload(client, token, corpus("fake.xlsx"), "innocent.csv")["data"]["uploadDataset"]
    assert payload["errors"][0]["code"] == "UNSUPPORTED_FILE"


def test_gzip_bomb_is_refused(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app
    from tests.support.graphql import register

    bomb = gzip.compress(b"a,b\n" + b"1,2\n" * (3 * 1024 * 1024))  # 12 MB of text in a few KB
    with TestClient(create_app(make_settings(tmp_path, max_decompressed_mb=1))) as small:
        token = register(small)["accessToken"]
        payload = upload(small, token, bomb, "bomb.csv.gz")["data"]["uploadDataset"]
        job = wait_for_job(small, token, payload["job"]["id"])
        assert job["status"] == "FAILED" and "expands beyond the 1 MB limit" in job["error"]


def test_full_path_file_name_is_only_displayed(client, token, settings):
    dataset = ingest(client, token, b"a,b\n1,2\n", "C:\\Users\\eve\\..\\..\\secret\\report.csv")
    assert dataset["fileName"] == "report.csv" and dataset["name"] == "report.csv"
    assert not (settings.resolved_data_dir.parent / "secret").exists()


def test_unknown_encoding_option_is_invalid_input(client, token):
    payload = upload(client, token, b"a\n1\n", csv={"encoding": "klingon"})["data"]["uploadDataset"]
    assert payload["errors"][0]["code"] == "INVALID_INPUT" and payload["errors"][0]["field"] == ["csv", "encoding"]


def test_dataset_name_can_be_given(client, token):
    dataset = ingest(client, token, io.BytesIO(b"a\n1\n2\n").getvalue(), name="My numbers")
    assert dataset["name"] == "My numbers"


@pytest.mark.parametrize(("junk", "is_datetime"), [(100, True), (101, False)])
def test_dates_after_a_run_of_other_text_are_still_dates_up_to_the_five_percent_rule(client, token, junk, is_datetime):
    """A column is DATETIME when one format parses 95% of its values: 100 leading non-dates in
    2,000 still qualify, 101 do not. (Formats are ruled out by the leading values first.)"""
    values = [f"pending {i}" for i in range(junk)] + [f"2024-03-{1 + i % 28:02d}" for i in range(2000 - junk)]
    dataset = ingest(client, token, ("when\n" + "\n".join(values) + "\n").encode(), "dates.csv")
    assert (column_types(dataset)["when"] == "DATETIME") is is_datetime
