"""Read a delimited text file into Arrow, with detection, and explain failures with a line number."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from services.errors import ErrorCode, ServiceError
from services.ingest.detect import WHITESPACE, WHITESPACE_FIELD, CsvDialect, detect_dialect
from services.ingest.follow import FollowedFile
from services.ingest.ragged import FAIL, LineBase, RaggedLines, RowHandler
from services.ingest.sniff import CappedGzipReader, NulCount, NulFreeReader, is_gzip_file, read_text_head
from services.ingest.types import parse_datetime_strings

DETECTION_SAMPLE_BYTES = 1024 * 1024
TRUE_VALUES = ["true", "True", "TRUE", "yes", "Yes", "YES"]
FALSE_VALUES = ["false", "False", "FALSE", "no", "No", "NO"]


def open_text_bytes(
    path: Path, max_decompressed: int, nuls: NulCount | None = None, followed: FollowedFile | None = None
) -> io.BufferedReader:
    """The file's text bytes, inflating gzip through a capped reader, without NUL bytes when `nuls` counts them.

    A `followed` file is read as it arrives.
    """
    if followed is not None:
        followed.wait_for(2)
    gzipped = is_gzip_file(path)
    source = followed.open() if followed is not None and not followed.complete else None
    raw_stream: io.RawIOBase
    if gzipped:
        raw_stream = CappedGzipReader(source or path, max_decompressed)
    elif nuls is None and source is None:
        return path.open("rb")
    else:
        raw_stream = source or io.FileIO(path, "rb")
    if nuls is not None:
        raw_stream = NulFreeReader(raw_stream, nuls)
    return io.BufferedReader(raw_stream, buffer_size=1024 * 1024)


def strips_nuls(dialect: CsvDialect) -> bool:
    """A NUL byte is a stray in an ASCII-compatible text; in UTF-16 it is half of most characters."""
    return not dialect.encoding.startswith("utf-16") and not dialect.encoding.startswith("utf-32")


def clean_column_names(names: list[str]) -> list[str]:
    """Strip, name blanks by position, and make duplicates unique with a numeric suffix."""
    cleaned, seen = [], set()
    for index, name in enumerate(names):
        base = str(name).strip().lstrip("\ufeff") or f"column_{index + 1}"
        candidate, suffix = base, 2
        while candidate in seen:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(candidate)
        cleaned.append(candidate)
    return cleaned


def find_ragged_line(path: Path, dialect: CsvDialect, max_decompressed: int) -> tuple[int, int, int] | None:
    """(line number, expected fields, found fields) of the first row whose width differs from the header's."""
    with open_text_bytes(path, max_decompressed) as raw:
        text = io.TextIOWrapper(raw, encoding=dialect.encoding, errors="replace", newline="")
        for _ in range(dialect.skip_rows):
            text.readline()
        reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quote_char, doublequote=True)
        expected = None
        for row in reader:
            if not row:
                continue
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                return reader.line_num + dialect.skip_rows, expected, len(row)
    return None


def _read_with_arrow(
    path: Path, dialect: CsvDialect, max_decompressed: int, ragged: RaggedLines, nuls: NulCount | None
) -> pa.Table:
    """The whole file in one read; when rows disagree with the header, the text is read again and mended."""
    rows = ragged.collector()
    with open_text_bytes(path, max_decompressed, nuls) as stream:
        table = read_arrow_csv(stream, dialect, handler=rows.handler)
    if not rows.rows:
        return table
    with open_text_bytes(path, max_decompressed, NulCount() if nuls is not None else None) as stream:
        data = stream.read().decode(dialect.encoding, errors="replace").encode("utf-8")  # mended as UTF-8
    utf8 = dataclasses.replace(dialect, encoding="utf-8")
    newline = dialect.line_ending[-1].encode()
    rows.encoding = "utf-8"
    repaired = rows.repair(data, newline, LineBase())
    if repaired is None:
        return table
    leftover = ragged.collector("utf-8")  # rows the mending could not fix: rejected as they are
    table = read_arrow_csv(pa.py_buffer(repaired), utf8, handler=leftover.handler)
    leftover.reject_all(repaired, newline, LineBase())
    return table


def read_arrow_csv(stream: Any, dialect: CsvDialect, handler: RowHandler | None = None) -> pa.Table:
    """pyarrow's reader with the upload's conversions: null tokens, booleans, decimal mark."""
    read_options, parse_options, convert_options = arrow_csv_options(dialect, handler)
    return pacsv.read_csv(
        stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
    )


def arrow_csv_options(
    dialect: CsvDialect, handler: RowHandler | None = None
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    encoding = "utf8" if dialect.encoding in ("utf-8", "utf-8-sig") else dialect.encoding
    read_options = pacsv.ReadOptions(
        skip_rows=dialect.skip_rows,
        encoding=encoding,
        block_size=8 << 20,
        autogenerate_column_names=not dialect.has_header,
    )
    parse_options = parse_options_for(dialect, handler)
    convert_options = pacsv.ConvertOptions(
        null_values=dialect.null_values,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        decimal_point=dialect.decimal,
        true_values=TRUE_VALUES,
        false_values=FALSE_VALUES,
    )
    return read_options, parse_options, convert_options


def parse_options_for(dialect: CsvDialect, handler: RowHandler | None = None) -> pacsv.ParseOptions:
    """`handler` receives the rows whose field count differs from the header's (services.ingest.ragged)."""
    return pacsv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quote_char,
        double_quote=True,
        newlines_in_values=True,
        ignore_empty_lines=True,
        invalid_row_handler=handler,
    )


def _read_whitespace(
    path: Path, dialect: CsvDialect, max_decompressed: int, ragged: RaggedLines, nuls: NulCount | None
) -> pa.Table:
    """Runs of spaces or tabs between fields: rewritten line for line as tab-separated text, then read like any
    other file, so short and long lines are padded, trimmed or rejected the same way and types come out alike."""
    with open_text_bytes(path, max_decompressed, nuls) as stream:
        text = stream.read().decode(dialect.encoding, errors="strict")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    tabbed = "\n".join("\t".join(WHITESPACE_FIELD.findall(line)) for line in lines).encode("utf-8")
    as_tabs = dataclasses.replace(dialect, delimiter="\t", encoding="utf-8", line_ending="\n")
    ragged.delimiter = "\t"
    converted = path.with_name(f".{path.name}.{os.getpid()}.tsv")  # beside the upload; removed whatever happens
    try:
        converted.write_bytes(tabbed)
        try:
            table = _read_with_arrow(converted, as_tabs, max_decompressed, ragged, None)
        except pa.ArrowInvalid as exc:
            raise _explain_parse_failure(converted, as_tabs, max_decompressed, exc) from exc
    finally:
        converted.unlink(missing_ok=True)
    for reject in ragged.rejects:  # kept as the user wrote them, not as rewritten
        if 0 < reject.line <= len(lines):
            reject.text = lines[reject.line - 1]
    return table


def detect_file_dialect(path: Path, *, options: dict[str, Any], followed: FollowedFile | None = None) -> CsvDialect:
    """Encoding, delimiter, header and the rest from the file's head; explicit `options` win."""
    sample = read_text_head(path, DETECTION_SAMPLE_BYTES, followed)
    return detect_dialect(
        sample,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        has_header=options.get("has_header"),
        null_values=options.get("na_values"),
    )


def read_with_dialect(
    path: Path,
    dialect: CsvDialect,
    *,
    max_decompressed: int,
    ragged: RaggedLines | None = None,
    nuls: NulCount | None = None,
) -> pa.Table:
    """The whole-file reader: widens a column's type when a later block needs it; a PARSE_ERROR says why not.

    Without `ragged`, a line with another field count fails the file (the strict reading).
    """
    ragged = ragged or RaggedLines(FAIL, dialect.delimiter, dialect.quote_char, dialect.encoding)
    if nuls is None and strips_nuls(dialect):
        nuls = NulCount()
    try:
        if dialect.delimiter == WHITESPACE:
            table = _read_whitespace(path, dialect, max_decompressed, ragged, nuls)
        else:
            table = _read_with_arrow(path, dialect, max_decompressed, ragged, nuls)
    except pa.ArrowInvalid as exc:
        raise _explain_parse_failure(path, dialect, max_decompressed, exc) from exc
    except UnicodeDecodeError as exc:
        raise ServiceError(
            ErrorCode.PARSE_ERROR, f"Could not parse the file as {dialect.encoding} text: {exc}"
        ) from exc
    if table.num_columns == 0:
        raise ServiceError(ErrorCode.PARSE_ERROR, "No columns were found in the file")
    names = table.column_names if dialect.has_header else [f"column_{i + 1}" for i in range(table.num_columns)]
    table = table.rename_columns(clean_column_names(names))
    if table.num_rows == 0:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The file has a header but no data rows")
    ragged.check_most(table.num_rows)
    return convert_datetime_strings(table)


def _explain_parse_failure(path: Path, dialect: CsvDialect, max_decompressed: int, exc: Exception) -> ServiceError:
    ragged = find_ragged_line(path, dialect, max_decompressed)
    if ragged is not None:
        line, expected, found = ragged
        return ServiceError(ErrorCode.PARSE_ERROR, f"Line {line} has {found} fields where the header has {expected}")
    message = str(exc).removeprefix("CSV parse error: ")
    return ServiceError(ErrorCode.PARSE_ERROR, f"Could not parse the file: {message}")


def convert_datetime_strings(table: pa.Table) -> pa.Table:
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            parsed = parse_datetime_strings(table.column(index))
            if parsed is not None:
                table = table.set_column(index, field.name, parsed)
    return table
