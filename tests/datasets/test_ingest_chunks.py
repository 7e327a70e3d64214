"""The chunked parallel reader: cut at row boundaries, proven by its quotes, identical to the whole-file reader.

The service is driven directly on real files with small chunks (so a few KB make many chunks),
and once through the endpoint with a file bigger than one 16 MB chunk.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.errors import ServiceError
from services.ingest.chunks import NotSplittable, check_quotes
from services.ingest.parse import detect_file_dialect, read_with_dialect
from services.ingest.stream import NotStreamable, parse_and_write
from tests.support.graphql import gql, ingest

pytestmark = pytest.mark.one_database(reason="chunked uploads")

LIMIT = 10**10


def read_both(tmp_path: Path, content: bytes, chunk_bytes: int = 2048) -> tuple[pa.Table, str, pa.Table]:
    source = tmp_path / "source.csv"
    source.write_bytes(content)
    dialect = detect_file_dialect(source, options={})
    table, how = parse_and_write(
        source, dialect, tmp_path / "out.parquet", max_decompressed=LIMIT, chunk_bytes=chunk_bytes
    )
    assert pq.read_table(tmp_path / "out.parquet").num_rows == table.num_rows
    return table, how, read_with_dialect(source, dialect, max_decompressed=LIMIT)


def messy_rows(count: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        label = rng.choice(["plain", '"quoted, with comma"', '"say ""hi"""', '""', "", "NA"])
        lines.append(f"{i},{rng.random():.6f},{label},{1 + i % 28:02d}/03/2024,{'true' if i % 3 else 'false'}\n")
    return "id,value,label,day,flag\n" + "".join(lines)


def test_many_chunks_read_exactly_as_the_whole_file_reader(tmp_path):
    table, how, whole = read_both(tmp_path, messy_rows(3000).encode())
    assert how.startswith("in ") and int(how.split()[1]) > 20, how
    assert table.equals(whole)
    assert table.num_rows == 3000
    assert str(table.schema.field("day").type).startswith("timestamp")  # d/m/Y chosen in the first chunk, kept after


@pytest.mark.parametrize("line_break", ["\r\n", "\r"])
def test_crlf_and_cr_only_files_are_cut_at_their_line_breaks(tmp_path, line_break):
    content = messy_rows(2000).replace("\n", line_break).encode()
    table, how, whole = read_both(tmp_path, content)
    assert how.startswith("in ") and table.equals(whole) and table.num_rows == 2000


def test_cp1252_and_bom_files_split_too(tmp_path):
    rows = "".join(f"{i},Café {i},{i * 2}\n" for i in range(2000))
    table, how, whole = read_both(tmp_path, ("name,label,n\n" + rows).encode("cp1252"))
    assert how.startswith("in ") and table.equals(whole) and table.column("label")[5].as_py() == "Café 5"
    table, how, whole = read_both(tmp_path, b"\xef\xbb\xbf" + ("name,label,n\n" + rows).encode())
    assert how.startswith("in ") and table.column_names == ["name", "label", "n"] and table.equals(whole)


def test_semicolons_decimal_commas_a_preamble_and_no_header(tmp_path):
    body = "# exported 2024-05-01\n\nitem;price;when\n" + "".join(
        f"{i};{i},5;{1 + i % 28:02d}.01.2024\n" for i in range(3000)
    )
    table, how, whole = read_both(tmp_path, body.encode())
    assert how.startswith("in ") and table.equals(whole)
    assert table.column_names == ["item", "price", "when"] and table.column("price")[3].as_py() == 3.5
    headerless = "".join(f"{i},{i * 2},x{i}\n" for i in range(3000))
    table, how, whole = read_both(tmp_path, headerless.encode())
    assert how.startswith("in ") and table.equals(whole) and table.num_rows == 3000
    assert table.column_names == ["column_1", "column_2", "column_3"]


def test_gzip_text_is_inflated_and_cut_the_same_way(tmp_path):
    table, how, whole = read_both(tmp_path, gzip.compress(messy_rows(3000).encode()))
    assert how.startswith("in ") and int(how.split()[1]) > 20, how
    assert table.equals(whole) and table.num_rows == 3000


def test_a_gzip_bomb_is_refused_by_the_chunked_reader_too(tmp_path):
    source = tmp_path / "bomb.csv.gz"
    source.write_bytes(gzip.compress(b"a,b\n" + b"1,2\n" * 1_000_000))
    with pytest.raises(ServiceError) as refused:
        parse_and_write(
            source,
            detect_file_dialect(source, options={}),
            tmp_path / "out.parquet",
            max_decompressed=100_000,
            chunk_bytes=2048,
        )
    assert refused.value.code == "PAYLOAD_TOO_LARGE"


def test_a_quoted_line_break_across_a_cut_is_read_serially_and_exactly(tmp_path):
    """Every row has a multi-line field, so some chunk's last line break is inside quotes."""
    body = "id,note,n\n" + "".join(f'{i},"first line {i}\nsecond line",{i}\n' for i in range(2000))
    table, how, whole = read_both(tmp_path, body.encode())
    assert how.startswith("serially (a quoted field spans the cut"), how
    assert table.equals(whole) and table.num_rows == 2000
    assert table.column("note")[1999].as_py() == "first line 1999\nsecond line"


def test_a_stray_quote_in_an_unquoted_field_is_read_serially(tmp_path):
    body = "id,size,n\n" + "".join(f'{i},{i % 30} inch" screen,{i}\n' for i in range(2000))
    table, how, whole = read_both(tmp_path, body.encode())
    assert how.startswith("serially"), how
    assert table.equals(whole) and table.column("size")[1].as_py() == '1 inch" screen'


def test_a_type_that_changes_in_a_later_chunk_goes_to_the_whole_file_reader(tmp_path):
    body = "code,n\n" + "".join(f"{i},{i}\n" for i in range(5000)) + "A-17,1\n"
    source = tmp_path / "codes.csv"
    source.write_bytes(body.encode())
    with pytest.raises(NotStreamable):
        parse_and_write(
            source,
            detect_file_dialect(source, options={}),
            tmp_path / "out.parquet",
            max_decompressed=LIMIT,
            chunk_bytes=2048,
        )


def test_a_ragged_row_in_a_later_chunk_is_placed_by_its_line_in_the_file(tmp_path):
    body = "a,b,c\n" + "".join(f"{i},{i},{i}\n" for i in range(3000)) + "1,2,3,4\n"
    source = tmp_path / "ragged.csv"
    source.write_bytes(body.encode())
    dialect = detect_file_dialect(source, options={})
    for read in (
        lambda: parse_and_write(source, dialect, tmp_path / "out.parquet", max_decompressed=LIMIT, chunk_bytes=2048),
        lambda: read_with_dialect(source, dialect, max_decompressed=LIMIT),
    ):
        with pytest.raises(ServiceError) as explained:  # strict when no policy is given
            read()
        assert explained.value.message == "Line 3002 has 4 fields where the header has 3"


@pytest.mark.parametrize(
    ("chunk", "splittable"),
    [
        (b'1,"a",2\n', True),
        (b'1,"a ""b"" c",2\n"x",""\n', True),  # doubled quotes, an empty quoted field, a quote at the start
        (b'1,"a\nb",2\n', True),  # a line break inside a closed quoted field
        (b'1,"a\n', False),  # the cut fell inside a quoted field
        (b'1,5" screen,2\n3,"x",4\n', False),  # stray quote inside an unquoted field
        (b'1,"a"b,2\n', False),  # text after a closing quote
        (b'1, "a",2\n', False),  # a space before the quote: pyarrow reads it as text
    ],
)
def test_quote_proof(chunk, splittable):
    if splittable:
        check_quotes(chunk, b"\n", b",")
    else:
        with pytest.raises(NotSplittable):
            check_quotes(chunk, b"\n", b",")


def test_an_upload_bigger_than_one_chunk_through_the_endpoint(client, token):
    """~24 MB: two 16 MB chunks parsed in parallel; rows on both sides of the cut come back intact."""
    rows = 300_000
    body = "id,name,amount,when,comment\n" + "".join(
        f'{i},"name {i}",{i * 0.25},2024-01-{1 + i % 28:02d},"he said ""{i}"", twice"\n' for i in range(rows)
    )
    assert len(body) > 16 << 20
    dataset = ingest(client, token, body.encode(), "big.csv")
    assert dataset["status"] == "READY" and dataset["rowCount"] == rows
    logs = [entry["message"] for entry in dataset["job"]["logs"]]
    assert any("in 2 chunks on 2 threads" in m for m in logs), logs
    cut_row = (16 << 20) // (len(body) // rows)  # near the first chunk's end
    page = gql(
        client,
        """query($id: ID!, $offset: Int!) { dataset(id: $id) { rows(offset: $offset, limit: 400) { rows } } }""",
        {"id": dataset["id"], "offset": cut_row - 200},
        token,
    )["data"]["dataset"]["rows"]["rows"]
    for offset, row in enumerate(page):
        i = cut_row - 200 + offset
        assert row[0] == i and row[1] == f"name {i}" and row[2] == i * 0.25 and row[4] == f'he said "{i}", twice'
