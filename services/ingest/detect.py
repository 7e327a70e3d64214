"""Detect how a delimited text file is written, from a sample of its head."""
from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

DELIMITERS = [",", ";", "\t", "|"]
WHITESPACE = "whitespace"
NULL_TOKENS = ["", "NA", "N/A", "NULL", "NONE", ".", "na", "n/a", "null", "None", "none", "NaN", "nan", "#N/A", "-"]
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$|^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")


@dataclass
class CsvDialect:
    encoding: str
    delimiter: str
    has_header: bool
    skip_rows: int = 0
    decimal: str = "."
    null_values: list[str] = field(default_factory=lambda: list(NULL_TOKENS))
    line_ending: str = "\n"


def detect_encoding(sample: bytes) -> str:
    """BOMs first, then strict UTF-8, then cp1252 (its undefined bytes fall back to latin-1)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def decode_sample(sample: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample, final=False)


def detect_line_ending(text: str) -> str:
    if "\r\n" in text:
        return "\r\n"
    if "\r" in text and "\n" not in text:
        return "\r"
    return "\n"


def _split_lines(text: str, line_ending: str) -> list[str]:
    lines = text.split(line_ending)
    return lines[:-1] if len(lines) > 1 else lines  # the last line of a sample may be cut


def count_preamble(lines: list[str]) -> int:
    """Blank or comment lines before the header."""
    skipped = 0
    for line in lines:
        if line.strip() == "" or line.lstrip().startswith("#"):
            skipped += 1
        else:
            break
    return skipped


def _field_counts(text: str, delimiter: str, limit: int = 200) -> list[int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True)
    counts = []
    try:
        for row in reader:
            if row:
                counts.append(len(row))
            if len(counts) >= limit:
                break
    except csv.Error:
        pass
    return counts[:-1] if len(counts) > 2 else counts


def detect_delimiter(text: str) -> str:
    """Pick the delimiter that splits rows into the same, largest number of fields."""
    best, best_score = None, (0.0, 0)
    for delimiter in DELIMITERS:
        counts = _field_counts(text, delimiter)
        if not counts:
            continue
        width, frequency = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        score = (round(frequency / len(counts), 2), width)
        if score > best_score:
            best, best_score = delimiter, score
    if best is not None and best_score[0] >= 0.9:
        return best
    widths = [len(line.split()) for line in text.splitlines() if line.strip()][:200]
    if widths and min(widths) > 1 and Counter(widths).most_common(1)[0][1] / len(widths) >= 0.9:
        return WHITESPACE
    return best or ","


def _rows(text: str, delimiter: str, limit: int = 200) -> list[list[str]]:
    if delimiter == WHITESPACE:
        return [line.split() for line in text.splitlines() if line.strip()][:limit]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    rows = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _looks_numeric(value: str) -> bool:
    return bool(_NUMBER.match(value.strip().replace(" ", "")))


def detect_header(rows: list[list[str]]) -> bool:
    """A header row has a non-numeric name where the data below it is numeric, or repeats nothing below it."""
    if len(rows) < 2:
        return True
    first, body = rows[0], rows[1:]
    if any(not cell.strip() for cell in first):
        blanks = sum(1 for cell in first if not cell.strip())
        if blanks > len(first) // 2:
            return False
    for index, cell in enumerate(first):
        column = [row[index] for row in body if index < len(row) and row[index].strip()]
        if column and sum(map(_looks_numeric, column)) / len(column) > 0.9:
            if not _looks_numeric(cell):
                return True
            return False
    for index, cell in enumerate(first):
        column = {row[index] for row in body if index < len(row)}
        if cell in column:
            return False
    return True


def detect_decimal(rows: list[list[str]]) -> str:
    cells = [cell.strip() for row in rows[1:] for cell in row]
    comma = sum(1 for cell in cells if _DECIMAL_COMMA.match(cell))
    point = sum(1 for cell in cells if _DECIMAL_POINT.match(cell))
    return "," if comma > 0 and comma > point else "."


def detect_dialect(sample: bytes, *, encoding: str | None = None, delimiter: str | None = None,
                   has_header: bool | None = None, null_values: list[str] | None = None) -> CsvDialect:
    """Detected settings; any explicit option wins over detection."""
    encoding = encoding or detect_encoding(sample)
    text = decode_sample(sample, encoding).lstrip("\ufeff")
    line_ending = detect_line_ending(text)
    lines = _split_lines(text, line_ending)
    skip_rows = count_preamble(lines)
    body = "\n".join(lines[skip_rows:]) + "\n"
    delimiter = delimiter or detect_delimiter(body)
    rows = _rows(body, delimiter)
    header = detect_header(rows) if has_header is None else has_header
    decimal = detect_decimal(rows) if delimiter != "," else "."
    return CsvDialect(encoding=encoding, delimiter=delimiter, has_header=header, skip_rows=skip_rows,
                      decimal=decimal, null_values=null_values if null_values is not None else list(NULL_TOKENS),
                      line_ending=line_ending)
