"""Unit tests of detection and sniffing (services.ingest): the bytes in, the dialect out — no server, no job.

The API tests (test_ingest_detection.py, test_ingest_shapes.py) upload files and read what the job stored;
these pin the pure decisions underneath, fast enough for every save."""

from __future__ import annotations

import codecs
import gzip

import pytest

from services.ingest.detect import (
    count_preamble,
    detect_decimal,
    detect_delimiter,
    detect_dialect,
    detect_header,
    detect_line_ending,
    detect_quote_char,
)
from services.ingest.encoding import detect_encoding
from services.ingest.sniff import is_gzip


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a;b\n1;2\n3;4\n", ";"), ("a\tb\tc\n1\t2\t3\n", "\t"), ("a|b\n1|2\n", "|"), ("a,b,c\n1,2,3\n4,5,6\n", ",")],
)
def test_the_delimiter_is_the_one_that_splits_every_row_alike(text, expected):
    assert detect_delimiter(text) == expected


def test_a_delimiter_inside_quotes_does_not_count():
    assert detect_delimiter('name;note\n"a, b, c";1\n"d, e";2\n') == ";"


def test_line_endings():
    assert detect_line_ending("a\r\nb\r\n") == "\r\n"
    assert detect_line_ending("a\rb\r") == "\r"
    assert detect_line_ending("a\nb\n") == "\n"


def test_blank_and_comment_lines_above_the_header_are_the_preamble():
    assert count_preamble(["", "# exported 2024-01-01", "  ", "a,b", "1,2"]) == 3
    assert count_preamble(["a,b", "# not a preamble once the table started"]) == 0


def test_single_quotes_are_detected_when_they_wrap_more_fields():
    assert detect_quote_char("'a'\t'b'\n'x'\t'y'\n") == "'"
    assert detect_quote_char('"a","b"\n"x","y"\n') == '"'


def test_a_header_row_names_columns_a_numeric_first_row_is_data():
    assert detect_header([["city", "temp"], ["Oslo", "3.5"], ["Rome", "18"]]) is True
    assert detect_header([["1", "2", "3"], ["4", "5", "6"]]) is False


def test_decimal_commas_are_detected_from_the_values():
    assert detect_decimal([["a", "b"], ["1,5", "2,25"], ["3,75", "4,5"]]) == ","
    assert detect_decimal([["a", "b"], ["1.5", "2.25"]]) == "."


def test_the_whole_dialect_of_a_european_export():
    sample = "# report\n\nort;wert\nWien;1,5\nGraz;2,25\n".encode("cp1252")
    dialect = detect_dialect(sample)
    assert (dialect.delimiter, dialect.decimal, dialect.skip_rows, dialect.has_header) == (";", ",", 2, True)


def test_given_options_win_over_detection():
    dialect = detect_dialect(b"a;b\n1;2\n", delimiter=",", encoding="latin-1", has_header=False)
    assert (dialect.delimiter, dialect.encoding, dialect.has_header, dialect.encoding_confidence) == (
        ",",
        "latin-1",
        False,
        None,
    )


def test_encodings_byte_order_marks_and_utf8_are_certain():
    assert detect_encoding(codecs.BOM_UTF8 + b"a,b\n").encoding == "utf-8-sig"
    assert detect_encoding(codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le")).encoding == "utf-16"
    utf8 = detect_encoding("stadt,größe\nMünchen,1\n".encode())
    assert utf8.encoding == "utf-8" and utf8.confidence == 1.0 and not utf8.uncertain


def test_cyrillic_text_is_not_read_as_latin():
    sample = "город,население\n" + "Москва,13000000\nСанкт-Петербург,5600000\nНовосибирск,1600000\n" * 20
    assert detect_encoding(sample.encode("cp1251")).encoding in ("cp1251", "windows-1251")


def test_gzip_is_recognised_by_its_magic_bytes():
    assert is_gzip(gzip.compress(b"a,b\n"))
    assert not is_gzip(b"a,b\n")
