"""Detect how a delimited text file is written, from a sample of its head."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

from services.ingest.encoding import DetectedEncoding, detect_encoding

DELIMITERS = [",", ";", "\t", "|"]
WHITESPACE = "whitespace"
# A field of a whitespace-delimited line: a quoted string (which may hold spaces), or a run of other characters.
WHITESPACE_FIELD = re.compile(r'"(?:[^"]|"")*"|[^\s"]+')
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
    quote_char: str = '"'
    misfit_lines: int = 0  # of skip_rows: lines above the header whose field count does not fit the table
    encoding_confidence: float | None = None  # None when the encoding was given, not detected
    encoding_rival: str | None = None  # another encoding that read the sample almost as cleanly
    delimiter_certain: bool = False  # given, or the only candidate that splits the first line


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


def _field_counts(text: str, delimiter: str, quote_char: str = '"', limit: int = 200) -> list[int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote_char, doublequote=True)
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


def detect_quote_char(text: str) -> str:
    """`'` when more fields are wrapped in single quotes than in double quotes (e.g. `'popul'\t'TVnews'`)."""
    wrapped = {
        quote: len(re.findall(rf"(?:^|[,;\t|]){quote}[^{quote}\r\n]*{quote}(?=[,;\t|\r\n]|$)", text, re.MULTILINE))
        for quote in ('"', "'")
    }
    return "'" if wrapped["'"] > wrapped['"'] else '"'


def detect_delimiter(text: str, quote_char: str = '"') -> str:
    """Pick the delimiter that splits rows into the same, largest number of fields."""
    best, best_score = None, (0.0, 0)
    for delimiter in DELIMITERS:
        counts = _field_counts(text, delimiter, quote_char)
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
    widths = [len(WHITESPACE_FIELD.findall(line)) for line in text.splitlines() if line.strip()][:200]
    if widths and min(widths) > 1 and Counter(widths).most_common(1)[0][1] / len(widths) >= 0.9:
        return WHITESPACE
    return best or ","


def _rows(text: str, delimiter: str, quote_char: str = '"', limit: int = 200) -> list[list[str]]:
    if delimiter == WHITESPACE:
        return [
            [field.strip('"') for field in WHITESPACE_FIELD.findall(line)] for line in text.splitlines() if line.strip()
        ][:limit]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote_char)
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
    """Whether the first row names the columns rather than holding data.

    A row of numbers only is data (`1,2,3`). A header has a non-numeric name where the data below
    it is numeric, or is a row of distinct names whose integers (years, codes: `Country Name, ...,
    1960, 1961`) are unlike the values below them, or repeats nothing below it.
    """
    if not rows:
        return True
    filled = [cell for cell in rows[0] if cell.strip()]
    if filled and all(map(_looks_numeric, filled)):
        return False
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
            break
    if _names_with_numbers(first, body):
        return True
    for index, cell in enumerate(first):
        if _looks_numeric(cell):
            continue  # a number recurring below a numeric cell says nothing
        below = {row[index] for row in body if index < len(row)}
        if cell in below:
            return False
    return not any(_looks_numeric(cell) for cell in first)


def _names_with_numbers(first: list[str], body: list[list[str]]) -> bool:
    """Distinct names, some text, and integers each unlike its column (decimals, another size, or empty)."""
    cells = [cell.strip() for cell in first]
    if len(set(cells)) != len(cells) or not all(cells):
        return False
    integers = [index for index, cell in enumerate(cells) if re.fullmatch(r"[+-]?\d+", cell)]
    if (
        not integers
        or len(integers) == len(cells)
        or any(_looks_numeric(cells[i]) for i in range(len(cells)) if i not in integers)
    ):
        return False
    for index in integers:
        column = [row[index].strip() for row in body if index < len(row) and row[index].strip()]
        unlike = [
            value
            for value in column
            if not re.fullmatch(r"[+-]?\d+", value) or len(value.lstrip("+-")) != len(cells[index].lstrip("+-"))
        ]
        if column and len(unlike) < 0.9 * len(column):
            return False
    return True


def detect_decimal(rows: list[list[str]]) -> str:
    cells = [cell.strip() for row in rows[1:] for cell in row]
    comma = sum(1 for cell in cells if _DECIMAL_COMMA.match(cell))
    point = sum(1 for cell in cells if _DECIMAL_POINT.match(cell))
    return "," if comma > 0 and comma > point else "."


def count_misfit_lines(body: str, delimiter: str, quote_char: str, limit: int = 20) -> int:
    """Leading lines whose field count is not the table's (e.g. `569,30,malignant,benign` above a 31-field header).

    They are skipped only when a header follows them: otherwise the header itself is what disagrees.
    """
    if delimiter == WHITESPACE:
        return 0
    counts = _field_counts(body, delimiter, quote_char)
    if len(counts) < 3:
        return 0
    width, _ = Counter(counts).most_common(1)[0]
    leading = 0
    while leading < min(limit, len(counts) - 2) and counts[leading] != width:
        leading += 1
    return leading if leading < len(counts) // 2 else 0


def _fits_no_line_below(body: str, misfits: int, below: list[list[str]], delimiter: str, quote_char: str) -> bool:
    """Leading lines whose field counts no line below them has: metadata, not a header the data disagrees with.

    `a,b` above three-field lines is kept as a header when any later line has two fields.
    """
    leading = {len(row) for row in _rows(body, delimiter, quote_char, limit=misfits)}
    return bool(below) and not leading & {len(row) for row in below} and not detect_header(below)


def _only_splitter(body: str, delimiter: str, quote_char: str) -> bool:
    """Whether the delimiter, and no other candidate, splits the first line: then ragged lines are ragged lines,
    not a sign of a wrong guess."""
    line = next((line for line in body.split("\n") if line.strip()), "")
    if delimiter == WHITESPACE:
        return False
    try:
        return [
            candidate
            for candidate in DELIMITERS
            if len(next(csv.reader([line], delimiter=candidate, quotechar=quote_char), [])) > 1
        ] == [delimiter]
    except csv.Error:  # e.g. a field over csv's size limit: not certain, the usual rules apply
        return False


def detect_dialect(
    sample: bytes,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    null_values: list[str] | None = None,
    quote_char: str | None = None,
) -> CsvDialect:
    """Detected settings; any explicit option wins over detection."""
    given_delimiter = delimiter is not None
    detected: DetectedEncoding | None = None
    if not encoding:
        detected = detect_encoding(sample)
        encoding = detected.encoding
    text = decode_sample(sample, encoding).lstrip("\ufeff").replace("\x00", "")
    line_ending = detect_line_ending(text)
    lines = _split_lines(text, line_ending)
    skip_rows = count_preamble(lines)
    body = "\n".join(lines[skip_rows:]) + "\n"
    quote_char = quote_char or detect_quote_char(body)
    delimiter = delimiter or detect_delimiter(body, quote_char)
    misfits = count_misfit_lines(body, delimiter, quote_char)
    below = _rows("\n".join(lines[skip_rows + misfits :]) + "\n", delimiter, quote_char) if misfits else []
    if misfits and has_header is not False and detect_header(below):
        skip_rows += misfits
        body = "\n".join(lines[skip_rows:]) + "\n"
    elif misfits and has_header is not True and _fits_no_line_below(body, misfits, below, delimiter, quote_char):
        skip_rows += misfits  # a metadata line above a headerless table (`569,30,malignant,benign`)
        body = "\n".join(lines[skip_rows:]) + "\n"
    rows = _rows(body, delimiter, quote_char)
    header = detect_header(rows) if has_header is None else has_header
    decimal = detect_decimal(rows) if delimiter != "," else "."
    return CsvDialect(
        encoding=encoding,
        delimiter=delimiter,
        has_header=header,
        skip_rows=skip_rows,
        decimal=decimal,
        null_values=null_values if null_values is not None else list(NULL_TOKENS),
        line_ending=line_ending,
        quote_char=quote_char,
        misfit_lines=misfits,
        encoding_confidence=detected.confidence if detected else None,
        encoding_rival=detected.rival if detected else None,
        delimiter_certain=given_delimiter or _only_splitter(body, delimiter, quote_char),
    )
