"""Real-world file shapes, each made here: year headers, single quotes, ragged lines, misfit preambles,
stray NULs, one-line numbers, workbooks and Parquet — through the upload endpoint, as a user meets them."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schema.common import raw_id
from tests.support.graphql import gql, register, upload, wait_for_job
from tests.support.graphql import ingest as upload_and_read
from tests.support.settings import make_settings

pytestmark = pytest.mark.one_database(reason="parsing file shapes")

DATASET = """query($id: ID!) { dataset(id: $id) { id status error rowCount columnCount
  columns { name semanticType dtype nullCount }
  ingest { format encoding delimiter quoteChar hasHeader skippedLines sheet paddedLines trimmedLines rejectedLines
           nulBytesRemoved rejects(first: 5) { line text reason } }
  rows(offset: 0, limit: 10) { columns rows } } }"""


def ingest(client, token, content: bytes, filename: str = "data.csv", *, expect: str = "SUCCEEDED", **kwargs) -> dict:
    return upload_and_read(client, token, content, filename, query=DATASET, expect=expect, **kwargs)


def logs(dataset: dict) -> list[str]:
    return [entry["message"] for entry in dataset["job"]["logs"]]


def test_a_wide_table_with_year_columns_has_its_header_detected(client, token):
    years = list(range(1960, 2014))
    lines = ["Country Name,Country Code,Indicator Name,Indicator Code," + ",".join(map(str, years))]
    for i in range(30):
        values = ["" if year < 1975 else f"{(i + 1) * 1234.5 + year:.1f}" for year in years]
        lines.append(f"Land {i},L{i:02d},GDP (current US$),NY.GDP.MKTP.CD," + ",".join(values))
    dataset = ingest(client, token, ("\n".join(lines) + "\n").encode(), "wb.csv")
    assert dataset["ingest"]["hasHeader"] is True and dataset["rowCount"] == 30
    assert dataset["rows"]["columns"][:6] == [
        "Country Name",
        "Country Code",
        "Indicator Name",
        "Indicator Code",
        "1960",
        "1961",
    ]
    assert dataset["rows"]["rows"][0][0] == "Land 0"
    assert {c["name"]: c["dtype"] for c in dataset["columns"]}["2013"] == "float64"


def test_headerless_rows_of_text_and_numbers_stay_data(client, token):
    dataset = ingest(client, token, b"alice,30,x\nbob,41,y\ncarl,52,z\n")
    assert dataset["ingest"]["hasHeader"] is False and dataset["rowCount"] == 3


def test_single_quoted_fields_lose_their_quotes(client, token):
    body = "'popul'\t'TVnews'\t'vote'\n" + "".join(
        f"'{i * 10}'\t'{i % 7}'\t'{'yes' if i % 2 else 'no'}'\n" for i in range(40)
    )
    dataset = ingest(client, token, body.encode(), "tv.tsv")
    assert dataset["ingest"]["quoteChar"] == "'" and dataset["ingest"]["delimiter"] == "\t"
    assert dataset["rows"]["columns"] == ["popul", "TVnews", "vote"]
    assert dataset["rows"]["rows"][1] == [10, 1, True]  # yes/no reads as boolean


RAGGED = (
    b"a,b,c\n"
    b"1,2,3\n"
    b"4,5\n"  # short: padded
    b"6,7,8,,\n"  # empty extras: trimmed
    b"9,x,y,z\n"  # an unquoted comma: rejected
    b"10,11,12\n"
    b"13\n"  # short: padded
    b"14,15,16\n"
) + b"".join(b"%d,%d,%d\n" % (i, i, i) for i in range(20, 30))


def test_ragged_lines_are_padded_trimmed_or_rejected_and_kept(client, token, settings):
    dataset = ingest(client, token, RAGGED, "ragged.csv")
    info = dataset["ingest"]
    assert (info["paddedLines"], info["trimmedLines"], info["rejectedLines"]) == (2, 1, 1)
    assert info["rejects"] == [{"line": 5, "text": "9,x,y,z", "reason": "4 fields where the header has 3"}]
    assert dataset["rowCount"] == 16
    assert dataset["rows"]["rows"][:7] == [
        [1, 2, 3],
        [4, 5, None],
        [6, 7, 8],
        [10, 11, 12],
        [13, None, None],
        [14, 15, 16],
        [20, 20, 20],
    ]
    assert any(
        "2 short line(s) padded with nulls" in m and "1 line(s) rejected (first: line 5" in m for m in logs(dataset)
    ), logs(dataset)
    url = gql(
        client, "query($id: ID!) { dataset(id: $id) { downloadUrl(format: REJECTS) } }", {"id": dataset["id"]}, token
    )["data"]["dataset"]["downloadUrl"]
    rows = list(csv.reader(io.StringIO(client.get(url).text)))
    assert rows == [["line", "reason", "text"], ["5", "4 fields where the header has 3", "9,x,y,z"]]


PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id}) { job { id } errors { code } } }"
ALERTS = "query($id: ID!) { dataset(id: $id) { profile { alerts { kind message } } } }"


def test_ragged_lines_raise_profile_alerts(client, token):
    dataset = ingest(client, token, RAGGED, "ragged.csv")
    job = gql(client, PROFILE, {"id": dataset["id"]}, token)["data"]["profileDataset"]["job"]
    assert wait_for_job(client, token, job["id"])["status"] == "SUCCEEDED"
    alerts = gql(client, ALERTS, {"id": dataset["id"]}, token)["data"]["dataset"]["profile"]["alerts"]
    kinds = {a["kind"]: a["message"] for a in alerts}
    assert "1 line(s)" in kinds["REJECTED_LINES"] and "2 short line(s)" in kinds["PADDED_LINES"]


def test_skip_rejects_short_lines_too(client, token):
    dataset = ingest(client, token, RAGGED, "ragged.csv", csv={"onBadLines": "SKIP"})
    info = dataset["ingest"]
    assert (info["paddedLines"], info["trimmedLines"], info["rejectedLines"]) == (0, 1, 3)
    assert [r["line"] for r in info["rejects"]] == [3, 5, 7] and dataset["rowCount"] == 14


def test_fail_restores_the_strict_reading(client, token, settings):
    dataset = ingest(client, token, RAGGED, "ragged.csv", csv={"onBadLines": "FAIL"}, expect="FAILED")
    assert dataset["status"] == "FAILED" and "Line 3 has 2 fields where the header has 3" in dataset["error"]
    assert not (settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet").exists()


def test_when_most_lines_disagree_the_guess_is_wrong_and_the_job_says_so(client, token):
    body = "a,b\n" + "".join(f"{i},{i},{i}\n" for i in range(50)) + "1,2\n"
    dataset = ingest(client, token, body.encode(), csv={"delimiter": ","}, expect="FAILED")
    assert "50 of 51 lines do not have the header's number of fields" in dataset["error"]
    assert "delimiter or the header was probably guessed wrong" in dataset["error"]


def test_ragged_lines_in_later_chunks_and_in_the_serial_reader(tmp_path, client, token):
    """The chunked reader mends lines in a later chunk (2 KB chunks here); quoted line breaks go to the serial one."""
    from services.ingest.parse import detect_file_dialect
    from services.ingest.ragged import PAD, RaggedLines
    from services.ingest.stream import parse_and_write

    rows = 3000
    body = ["id,name,value\n"] + [f"{i},n{i},{i * 0.5}\n" for i in range(rows)]
    body[2001] = "2000,short\n"  # (body[0] is the header: data row k is line k + 2)
    body[2002] = "2001,n,1.0,extra\n"
    source = tmp_path / "big.csv"
    source.write_text("".join(body))
    dialect = detect_file_dialect(source, options={})
    ragged = RaggedLines(PAD, dialect.delimiter, dialect.quote_char, dialect.encoding)
    table, how = parse_and_write(
        source, dialect, tmp_path / "out.parquet", max_decompressed=10**10, ragged=ragged, chunk_bytes=2048
    )
    assert how.startswith("in ") and int(how.split()[1]) > 20, how
    assert (ragged.padded, len(ragged.rejects)) == (1, 1) and ragged.rejects[0].line == 2003
    assert table.num_rows == rows - 1
    assert table.slice(1999, 2).to_pylist() == [
        {"id": 1999, "name": "n1999", "value": 999.5},
        {"id": 2000, "name": "short", "value": None},
    ]

    serial = ingest(client, token, b'id,note,n\n1,"two\nlines",3\n4,five\n6,"x",7,8\n9,"y",10\n', "notes.csv")
    info = serial["ingest"]
    assert (info["paddedLines"], info["rejectedLines"]) == (1, 1)
    assert info["rejects"][0] == {"line": 5, "text": '6,"x",7,8', "reason": "4 fields where the header has 3"}
    assert serial["rows"]["rows"] == [[1, "two\nlines", 3], [4, "five", None], [9, "y", 10]]


def test_a_preamble_line_with_another_field_count_is_skipped_and_reported(client, token):
    header = ",".join(f"feature_{i}" for i in range(30)) + ",target"
    body = (
        "569,30,malignant,benign\n"
        + header
        + "\n"
        + "".join(",".join(f"{(i + 1) * (j + 1) * 0.5}" for j in range(30)) + f",{i % 2}\n" for i in range(40))
    )
    dataset = ingest(client, token, body.encode(), "cancer.csv")
    assert dataset["ingest"]["skippedLines"] == 1 and dataset["columnCount"] == 31 and dataset["rowCount"] == 40
    assert dataset["rows"]["columns"][0] == "feature_0" and dataset["ingest"]["rejectedLines"] == 0
    assert any("1 preamble line(s) skipped (1 with another field count)" in m for m in logs(dataset))


def test_a_stray_nul_byte_is_removed_and_counted(client, token):
    body = b"name,score\nann,1\nb\x00ob,2\ncarl,3\x00\n" + b"".join(b"p%d,%d\n" % (i, i) for i in range(20))
    dataset = ingest(client, token, body)
    assert dataset["ingest"]["nulBytesRemoved"] == 2
    assert dataset["rows"]["rows"][1:3] == [["bob", 2], ["carl", 3]]
    assert {c["name"]: c["dtype"] for c in dataset["columns"]}["score"] == "int64"
    assert any("Removed 2 NUL byte(s)" in m for m in logs(dataset))
    gzipped = ingest(client, token, gzip.compress(body), "nul.csv.gz")
    assert gzipped["ingest"]["nulBytesRemoved"] == 2 and gzipped["rows"]["rows"][1] == ["bob", 2]


def test_binary_files_stay_refused(client, token):
    payload = upload(client, token, bytes(range(256)) * 4 + b"\x00" * 500)["data"]["uploadDataset"]
    assert payload["errors"][0]["code"] == "UNSUPPORTED_FILE" and "binary" in payload["errors"][0]["message"]


@pytest.mark.parametrize("content", [b"1,2,3\n", b"1,2,3", b"1.5;2;3\n"])
def test_a_one_line_file_of_numbers_is_data(client, token, content):
    dataset = ingest(client, token, content)
    assert dataset["rowCount"] == 1 and dataset["ingest"]["hasHeader"] is False
    assert dataset["rows"]["columns"] == ["column_1", "column_2", "column_3"]


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


SALES = [["region", "units", "price", "day", "paid"]] + [
    [["north", "south", "east"][i % 3], i, i * 1.5, dt.datetime(2024, 1, 1 + i % 28), i % 2 == 0] for i in range(30)
]


def test_an_xlsx_workbook_is_read_from_its_first_sheet_or_the_one_chosen(client, token, settings):
    content = xlsx_bytes({"Sales": SALES, "Notes": [["note"], ["hello"], ["world"]]})
    dataset = ingest(client, token, content, "book.xlsx")
    assert dataset["ingest"]["format"] == "XLSX" and dataset["ingest"]["sheet"] == "Sales"
    assert dataset["rowCount"] == 30 and dataset["rows"]["columns"] == ["region", "units", "price", "day", "paid"]
    types = {c["name"]: (c["semanticType"], c["dtype"]) for c in dataset["columns"]}
    assert types["units"] == ("NUMERIC", "int64") and types["price"] == ("NUMERIC", "float64")
    assert types["day"][0] == "DATETIME" and types["paid"] == ("BOOLEAN", "bool")
    assert types["region"][0] == "CATEGORICAL"
    assert dataset["rows"]["rows"][1][:3] == ["south", 1, 1.5]
    folder = settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset")
    assert pq.read_table(folder / "data.parquet").num_rows == 30
    notes = ingest(client, token, content, "book.xlsx", csv={"sheet": "Notes"})
    assert notes["ingest"]["sheet"] == "Notes" and notes["rows"]["rows"] == [["hello"], ["world"]]


def test_an_unknown_sheet_fails_with_the_sheets_named(client, token):
    dataset = ingest(client, token, xlsx_bytes({"Sales": SALES}), "book.xlsx", csv={"sheet": "Nope"}, expect="FAILED")
    assert "no sheet 'Nope'; its sheets are 'Sales'" in dataset["error"]


def test_xls_and_ods_workbooks(client, token):
    import xlwt
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    rows = [["city", "people"]] + [[f"town {i}", i * 100] for i in range(1, 21)]
    book = xlwt.Workbook()
    sheet = book.add_sheet("Towns")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    xls = ingest(client, token, out.getvalue(), "towns.xls")
    assert xls["ingest"]["format"] == "XLS" and xls["rowCount"] == 20 and xls["rows"]["rows"][0] == ["town 1", 100]

    document = OpenDocumentSpreadsheet()
    table = Table(name="Towns")
    for row in rows:
        line = TableRow()
        for value in row:
            cell = (
                TableCell(valuetype="float", value=value) if isinstance(value, int) else TableCell(valuetype="string")
            )
            cell.addElement(P(text=str(value)))
            line.addElement(cell)
        table.addElement(line)
    document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    ods = ingest(client, token, out.getvalue(), "towns.ods")
    assert ods["ingest"]["format"] == "ODS" and ods["rows"]["rows"][1] == ["town 2", 200]
    assert {c["name"]: c["dtype"] for c in ods["columns"]}["people"] == "int64"


def test_parquet_is_read_with_its_types(client, token):
    table = pa.table(
        {
            "id": pa.array(range(100), pa.int32()),
            "label": pa.array([f"l{i % 4}" for i in range(100)]).dictionary_encode(),
            "when": pa.array([dt.datetime(2024, 1, 1)] * 100, pa.timestamp("ms")),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    dataset = ingest(client, token, out.getvalue(), "export.parquet")
    assert dataset["ingest"]["format"] == "PARQUET" and dataset["rowCount"] == 100
    types = {c["name"]: (c["semanticType"], c["dtype"]) for c in dataset["columns"]}
    assert types["id"][1] == "int32" and types["label"] == ("CATEGORICAL", "string") and types["when"][0] == "DATETIME"


def _failed_leaving_nothing(client, token, settings, content: bytes, name: str) -> str:
    dataset = ingest(client, token, content, name, expect="FAILED")
    assert dataset["status"] == "FAILED"
    folder = settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset")
    assert not (folder / "data.parquet").exists() and not list(folder.glob(".*.part"))
    return dataset["error"]


def test_a_password_protected_workbook_gets_a_clear_error(client, token, settings):
    from msoffcrypto.format.ooxml import OOXMLFile

    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes({"Sales": SALES}))).encrypt("secret", encrypted)
    error = _failed_leaving_nothing(client, token, settings, encrypted.getvalue(), "locked.xlsx")
    assert "password-protected" in error


def test_a_workbook_zip_bomb_and_a_sheet_over_the_row_limit_are_refused_but_not_a_long_parquet(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    settings = make_settings(tmp_path, max_decompressed_mb=1, max_sheet_rows=50)
    with TestClient(create_app(settings)) as small:
        token = register(small)["accessToken"]
        bomb = xlsx_bytes({"Big": [["text"]] + [["x" * 1000] for _ in range(2000)]})  # ~2 MB of cells, zipped small
        assert len(bomb) < 1 << 20
        assert "expands beyond the 1 MB limit" in _failed_leaving_nothing(small, token, settings, bomb, "bomb.xlsx")
        tall = xlsx_bytes({"Tall": [["n"]] + [[i] for i in range(100)]})
        assert "101 rows, more than the limit of 50" in _failed_leaving_nothing(small, token, settings, tall, "t.xlsx")
        table = pa.table({"n": list(range(100))})
        out = io.BytesIO()
        pq.write_table(table, out)
        dataset = ingest(small, token, out.getvalue(), "t.parquet")  # Parquet streams: no row limit
        assert dataset["status"] == "READY" and dataset["rowCount"] == 100


WHITESPACE_RAGGED = (
    b"name   height  weight\n"
    b"ann    1.62    55.0\n"
    b"bob    1.80\n"  # short: padded
    b"cy     1.75    70.1   extra\n"  # long: rejected, kept as written
    b'"dee dee" 1.70 60.2\n'  # a quoted field with a space stays one field
) + b"".join(b"p%d  1.%d   %d.5\n" % (i, i, 50 + i) for i in range(30))


def test_whitespace_delimited_ragged_lines_are_padded_or_rejected_like_any_file(client, token, settings):
    dataset = ingest(client, token, WHITESPACE_RAGGED, "people.txt")
    info = dataset["ingest"]
    assert info["delimiter"] == "whitespace"
    assert (info["paddedLines"], info["rejectedLines"]) == (1, 1)
    assert info["rejects"] == [
        {"line": 4, "text": "cy     1.75    70.1   extra", "reason": "4 fields where the header has 3"}
    ]
    assert dataset["rows"]["rows"][:3] == [["ann", 1.62, 55.0], ["bob", 1.8, None], ["dee dee", 1.7, 60.2]]
    strict = ingest(client, token, WHITESPACE_RAGGED, "people.txt", csv={"onBadLines": "FAIL"}, expect="FAILED")
    assert "Line 3 has 2 fields where the header has 3" in strict["error"]
    leftovers = [p.name for p in (settings.resolved_data_dir / "uploads").rglob("*") if p.name.endswith(".tsv")]
    assert leftovers == []  # the rewritten copy is gone
