"""Workbooks (.xlsx, .xls, .ods) through python-calamine into one Arrow table, and Parquet streamed through pyarrow.

The same limits as delimited text: what a zip inflates to is capped before a cell is read (a
zip bomb), a sheet may not declare more rows than `max_rows`, and an encrypted workbook gets
its own clear refusal rather than a reader's complaint. A Parquet upload has no row limit: it is
copied one batch at a time.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import python_calamine

from services.errors import ErrorCode, ServiceError, invalid
from services.ingest.detect import detect_header
from services.ingest.parquet import ROW_GROUP_SIZE, ParquetBatchWriter
from services.ingest.parse import clean_column_names, convert_datetime_strings

WORKBOOK_KINDS = ("xlsx", "xls", "ods")
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # the stream an encrypted OOXML file keeps in a CFB


def read_workbook(path: Path, *, sheet: str | None, max_rows: int, max_decompressed: int) -> tuple[pa.Table, str]:
    """The chosen sheet (the first by default) as a table, and the sheet's name."""
    _check_inflated_size(path, max_decompressed)
    try:
        with path.open("rb") as handle:
            workbook = python_calamine.CalamineWorkbook.from_filelike(handle)
    except python_calamine.PasswordError as exc:
        raise ServiceError(
            ErrorCode.UNSUPPORTED_FILE, "The workbook is password-protected; save it without a password"
        ) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        if _is_encrypted_ooxml(path):
            raise ServiceError(
                ErrorCode.UNSUPPORTED_FILE, "The workbook is password-protected; save it without a password"
            ) from exc
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, f"The workbook could not be read: {exc}") from exc
    names = workbook.sheet_names
    if not names:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The workbook has no sheets")
    chosen = names[0] if sheet is None else sheet
    if chosen not in names:
        raise invalid(
            f"The workbook has no sheet {chosen!r}; its sheets are " + ", ".join(repr(n) for n in names),
            ["csv", "sheet"],
        )
    try:
        grid = workbook.get_sheet_by_name(chosen)
        declared = grid.total_height + 1  # (the index of its last row)
        if declared > max_rows:
            raise ServiceError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The sheet {chosen!r} has {declared:,} rows, more than the limit of {max_rows:,}",
            )
        rows = grid.to_python(skip_empty_area=True)
    except python_calamine.CalamineError as exc:
        raise ServiceError(ErrorCode.PARSE_ERROR, f"The sheet {chosen!r} could not be read: {exc}") from exc
    finally:
        workbook.close()
    return cells_to_table(rows), chosen


def cells_to_table(rows: list[list[Any]]) -> pa.Table:
    """Typed columns from a grid of cells: a header when the first row names the columns (as for text).

    A cell is what python-calamine gives (int, float, str, bool, date, datetime, time, timedelta), "" when empty."""
    rows = [row for row in rows if any(cell not in ("", None) for cell in row)]
    if not rows:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The sheet is empty")
    width = max(len(row) for row in rows)
    rows = [list(row) + [""] * (width - len(row)) for row in rows]
    has_header = detect_header([[_as_text(cell) for cell in row] for row in rows[:200]])
    names = [_as_text(cell) for cell in rows[0]] if has_header else [f"column_{i + 1}" for i in range(width)]
    body = rows[1:] if has_header else rows
    if not body:
        raise ServiceError(ErrorCode.PARSE_ERROR, "The sheet has a header but no data rows")
    columns = [_column([row[index] for row in body]) for index in range(width)]
    table = pa.Table.from_arrays(columns, names=clean_column_names(names))
    return convert_datetime_strings(table)


def _column(cells: list[Any]) -> pa.Array:
    """One type per column: numbers (integers when every value is whole), booleans, dates, or else text."""
    values = [None if cell == "" else cell for cell in cells]
    present = [value for value in values if value is not None]
    kinds = {_kind(value) for value in present}
    if kinds == {"bool"}:
        return pa.array(values, pa.bool_())
    if kinds <= {"number"} and present:
        if all(float(value).is_integer() and abs(value) < 2**53 for value in present):
            return pa.array([None if v is None else int(v) for v in values], pa.int64())
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if kinds == {"datetime"}:
        return pa.array([None if v is None else _as_datetime(v) for v in values], pa.timestamp("s"))
    return pa.array([None if v is None else _as_text(v) for v in values], pa.string())


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (dt.datetime, dt.date)):
        return "datetime"
    return "text"


def _as_datetime(value: dt.date | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month, value.day)  # noqa: DTZ001 - a sheet's dates have no zone


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_inflated_size(path: Path, max_decompressed: int) -> None:
    """Refuse a zip-based workbook whose members inflate past the cap, before any is inflated."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, f"The workbook is a damaged zip archive: {exc}") from exc
    if inflated > max_decompressed:
        raise ServiceError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"The workbook expands beyond the {max_decompressed // (1024 * 1024)} MB limit"
        )


def _is_encrypted_ooxml(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    return head.startswith(b"\xd0\xcf\x11\xe0") and _ENCRYPTED_PACKAGE in head


def copy_parquet_upload(path: Path, target: Path, *, max_decompressed: int) -> tuple[int, int]:
    """A Parquet export rewritten as the canonical copy batch by batch (any number of rows); (rows, columns).

    Checked against the inflation limit from its footer before its data is read.
    """
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)  # column chunks read in pieces
    except (pa.ArrowInvalid, OSError) as exc:
        raise ServiceError(ErrorCode.UNSUPPORTED_FILE, f"The Parquet file could not be read: {exc}") from exc
    metadata = parquet.metadata
    inflated = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if inflated > max_decompressed:
        raise ServiceError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The Parquet file expands beyond the {max_decompressed // (1024 * 1024)} MB limit",
        )
    names = clean_column_names([str(name) for name in parquet.schema_arrow.names])
    if not names or metadata.num_rows == 0:
        raise ServiceError(
            ErrorCode.PARSE_ERROR, "The Parquet file has no rows" if names else "The Parquet file has no columns"
        )
    try:
        with ParquetBatchWriter(target) as writer:
            for batch in parquet.iter_batches(batch_size=ROW_GROUP_SIZE // 2):
                writer.add(pa.RecordBatch.from_arrays([_plain(column) for column in batch.columns], names=names))
    except pa.ArrowInvalid as exc:
        raise ServiceError(ErrorCode.PARSE_ERROR, f"The Parquet file could not be read: {exc}") from exc
    return metadata.num_rows, len(names)


def _plain(column: pa.Array) -> pa.Array:
    """Dictionary-encoded columns as their values: the rest of Assay reads plain types."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column
