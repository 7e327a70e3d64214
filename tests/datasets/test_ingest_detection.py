"""Detection a new user relies on without knowing it: the text's encoding (said out loud when unsure), a
metadata line above headerless data, and tiny ragged files whose delimiter is not in doubt."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import sklearn

from tests.corpus.make_corpus import OTHER_ENCODINGS
from tests.support.data import CORPUS
from tests.support.graphql import ingest

pytestmark = pytest.mark.one_database(reason="detecting encodings, delimiters and types")

DATASET = """query($id: ID!) { dataset(id: $id) { status error rowCount columnCount columns { name }
  ingest { encoding encodingConfidence alerts { code message } hasHeader skippedLines paddedLines trimmedLines
           rejectedLines rejects { line text reason } }
  rows(offset: 0, limit: 10) { columns rows } } }"""
# Python's names for what charset-normalizer may report: a superset of the encoding reads the same bytes.
SAME_TEXT = {
    "shift_jis": {"shift_jis", "cp932"},
    "euc_kr": {"euc_kr", "cp949"},
    "gb18030": {"gb18030"},
    "cp1251": {"cp1251"},
    "koi8_r": {"koi8-r"},
}


def load(client, token, content: bytes, expect: str = "SUCCEEDED", **kwargs) -> dict:
    return ingest(client, token, content, query=DATASET, expect=expect, **kwargs)


def expected_rows(text: str) -> list[list]:
    rows = list(csv.reader(io.StringIO(text)))[1:]
    return [[name, city, int(price), note] for name, city, price, note in rows]


@pytest.mark.parametrize("encoding", sorted(OTHER_ENCODINGS))
def test_legacy_encodings_are_detected_and_decoded(client, token, encoding):
    dataset = load(client, token, (CORPUS / f"{encoding}.csv").read_bytes())
    text = OTHER_ENCODINGS[encoding]
    info = dataset["ingest"]
    assert info["encoding"] in SAME_TEXT[encoding]
    assert info["encodingConfidence"] >= 0.7 and info["alerts"] == []
    assert dataset["rows"]["columns"] == text.splitlines()[0].split(",")
    assert dataset["rows"]["rows"] == expected_rows(text)


def test_an_unsure_encoding_is_an_ingest_alert(client, token):
    dataset = load(client, token, (CORPUS / "unsure_encoding.csv").read_bytes())
    info = dataset["ingest"]
    assert info["encodingConfidence"] < 0.7
    assert [alert["code"] for alert in info["alerts"]] == ["ENCODING_UNCERTAIN"]
    assert f"read as {info['encoding']}" in info["alerts"][0]["message"]
    assert "csv.encoding" in info["alerts"][0]["message"]
    warnings = [entry["message"] for entry in dataset["job"]["logs"] if entry["level"] == "WARNING"]
    assert any("low confidence" in message for message in warnings)


@pytest.mark.parametrize(("name", "encoding"), [("cp1252.csv", "cp1252"), ("utf8_bom.csv", "utf-8-sig")])
def test_clear_encodings_carry_no_alert(client, token, name, encoding):
    info = load(client, token, (CORPUS / name).read_bytes())["ingest"]
    assert (info["encoding"], info["alerts"]) == (encoding, [])
    assert info["encodingConfidence"] == (1.0 if encoding == "utf-8-sig" else pytest.approx(info["encodingConfidence"]))
    assert info["encodingConfidence"] >= 0.7


def test_an_encoding_given_by_the_user_has_no_confidence(client, token):
    info = load(client, token, (CORPUS / "koi8_r.csv").read_bytes(), csv={"encoding": "koi8-r"})["ingest"]
    assert (info["encoding"], info["encodingConfidence"], info["alerts"]) == ("koi8-r", None, [])


def test_a_metadata_line_above_headerless_data_is_skipped(client, token):
    """scikit-learn's breast_cancer.csv: `569,30,malignant,benign`, then 569 lines of 31 numbers."""
    content = (Path(sklearn.__file__).parent / "datasets" / "data" / "breast_cancer.csv").read_bytes()
    dataset = load(client, token, content)
    assert (dataset["status"], dataset["rowCount"], dataset["columnCount"]) == ("READY", 569, 31)
    info = dataset["ingest"]
    assert (info["hasHeader"], info["skippedLines"], info["paddedLines"], info["rejectedLines"]) == (False, 1, 0, 0)
    assert [c["name"] for c in dataset["columns"]][:2] == ["column_1", "column_2"]
    first = content.decode().splitlines()[1].split(",")
    assert dataset["rows"]["rows"][0][:2] == [17.99, 10.38] and dataset["rows"]["rows"][0][-1] == int(first[-1])


def test_a_leading_line_that_fits_a_later_one_is_still_the_header(client, token):
    """`a,b` over three-field lines is a header the data disagrees with, since a later line has two fields."""
    body = "a,b\n" + "".join(f"{i},{i},{i}\n" for i in range(50)) + "1,2\n"
    dataset = load(client, token, body.encode(), expect="FAILED")
    assert "50 of 51 lines do not have the header's number of fields" in dataset["error"]


def test_csvkit_bad_csv_pads_the_short_line_and_rejects_the_long_one(client, token):
    dataset = load(client, token, (CORPUS / "csvkit_bad.csv").read_bytes())
    assert dataset["status"] == "READY" and dataset["rowCount"] == 2
    assert dataset["rows"]["columns"] == ["column_a", "column_b", "column_c"]
    assert dataset["rows"]["rows"] == [[None, "I'm too short!", None], [0, "mixed types.... uh oh", 17]]
    info = dataset["ingest"]
    assert (info["paddedLines"], info["trimmedLines"], info["rejectedLines"]) == (1, 0, 1)
    assert info["rejects"] == [
        {"line": 2, "text": '1,27,,"I\'m too long!"', "reason": "4 fields where the header has 3"}
    ]


def test_csvkit_extra_header_pads_the_data_line(client, token):
    dataset = load(client, token, (CORPUS / "csvkit_extra_header.csv").read_bytes())
    assert (dataset["status"], dataset["rowCount"], dataset["columnCount"]) == ("READY", 1, 4)
    assert dataset["rows"]["columns"] == ["a", "b", "c", "d"] and dataset["rows"]["rows"] == [[1, 2, 3, None]]
    assert (dataset["ingest"]["paddedLines"], dataset["ingest"]["rejectedLines"]) == (1, 0)


def test_a_few_ragged_lines_under_an_uncertain_delimiter_still_fail_as_a_wrong_guess(client, token):
    """`a,b;c,d` splits on both candidates: when most lines disagree, the guess is what is wrong."""
    body = b"a,b;c,d\n1,2\n3,4\n"
    dataset = load(client, token, body, expect="FAILED")
    assert "probably guessed wrong" in dataset["error"]
