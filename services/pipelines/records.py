"""Collected records -> a typed Arrow table, nested objects flattened to dotted column names.

JSON numbers and booleans keep their types; text goes through the upload reader, so "2024-01-05",
"3.5" or "NA" inside strings are typed exactly as they would be in an uploaded CSV. Lists stay
whole, as JSON text.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from services.ingest.detect import CsvDialect
from services.ingest.parse import clean_column_names, convert_datetime_strings, read_arrow_csv

ARROW_REFUSALS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)


class RecordPages:
    """Pages of records gathered into one table.

    Each page is converted by Arrow in one C call (the fetching thread barely waits for the GIL);
    once a page mixes kinds under one name (a number here, text there) everything moves to the
    slower Python pass, which turns such columns into text.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._tables: list[pa.Table] = []
        self._python: FlatColumns | None = None

    def add(self, records: list[Any]) -> None:
        if not records:  # an empty page says nothing about columns
            return
        self.rows += len(records)
        if self._python is None:
            try:
                self._tables.append(_page_table(records))
                return
            except ARROW_REFUSALS:
                self._switch_to_python()
        assert self._python is not None
        self._python.add(records)

    def to_table(self) -> pa.Table:
        if self._python is None:
            try:
                return typed_like_an_upload(pa.concat_tables(self._tables, promote_options="permissive"))
            except ARROW_REFUSALS:  # pages disagree on a column's kind
                self._switch_to_python()
        assert self._python is not None
        return self._python.to_table()

    def _switch_to_python(self) -> None:
        self._python = FlatColumns()
        for table in self._tables:  # already flat: dotted names come back as plain keys
            self._python.add(table.to_pylist())
        self._tables = []


def _page_table(records: list[Any]) -> pa.Table:
    array = pa.array(records)
    table = pa.Table.from_struct_array(array) if pa.types.is_struct(array.type) else pa.table({"value": array})
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()  # "meta" {"score"} -> "meta.score", one level per pass
    return table


class FlatColumns:
    """The Python pass: column lists built record by record; a column missing from a record gets a null."""

    def __init__(self, names: list[str] | None = None) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in names or ()}
        self.rows = 0

    def add(self, records: list[Any]) -> None:
        for record in records:
            self._add_fields(record if isinstance(record, dict) else {"value": record}, "")
            self.rows += 1

    def add_columns(self, count: int, columns: dict[str, list[Any]]) -> None:
        """`count` rows given column by column (each list `count` long), as a scraped page gives them."""
        for name, values in columns.items():
            column = self.columns.setdefault(name, [])
            column.extend([None] * (self.rows - len(column)))
            column.extend(values)
        self.rows += count

    def _add_fields(self, record: dict[str, Any], prefix: str) -> None:
        row = self.rows
        for key, value in record.items():
            name = f"{prefix}{key}"
            if type(value) is dict and value:
                self._add_fields(value, f"{name}.")
                continue
            column = self.columns.get(name)
            if column is None:
                column = self.columns[name] = [None] * row
            elif len(column) > row:  # the same dotted name twice in one record: the first wins
                continue
            elif len(column) < row:
                column.extend([None] * (row - len(column)))
            column.append(value)

    def to_table(self) -> pa.Table:
        arrays = {}
        for name, values in self.columns.items():
            values.extend([None] * (self.rows - len(values)))
            try:
                arrays[name] = pa.array(values)
            except ARROW_REFUSALS:  # mixed kinds: keep them as text
                arrays[name] = pa.array([None if v is None else _as_text(v) for v in values], pa.string())
        return typed_like_an_upload(pa.table(arrays))


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def typed_like_an_upload(table: pa.Table) -> pa.Table:
    """Clean names, lists and objects to JSON text, and text columns through the upload's CSV reader."""
    table = table.rename_columns(clean_column_names(table.column_names))
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_struct(column.type):
            column = pa.array([None if v is None else _as_text(v) for v in column.to_pylist()], pa.string())
        columns[name] = column
    text = [
        name for name, column in columns.items() if pa.types.is_string(column.type) or pa.types.is_null(column.type)
    ]
    if text:
        columns.update(_typed_text(text, columns))
    return pa.table(columns)


UPLOAD_DIALECT = CsvDialect(encoding="utf-8", delimiter=",", has_header=True)
TEXT_SAMPLE = 1000


def _typed_text(names: list[str], columns: dict[str, Any]) -> dict[str, Any]:
    """Text columns as the upload reader types them, reading only what could turn out not to be text.

    One value the reader cannot convert keeps a whole column as text; so a column whose first
    values already read back as text is text, and only needs the reader's null tokens applied.
    """
    sample = _read_back({name: columns[name][:TEXT_SAMPLE] for name in names})
    surely_text = {name for name, column in zip(names, sample.columns, strict=True) if pa.types.is_string(column.type)}
    undecided = [name for name in names if name not in surely_text]
    typed = (
        dict(zip(undecided, _read_back({name: columns[name] for name in undecided}).columns, strict=True))
        if undecided
        else {}
    )
    null_tokens = pa.array(UPLOAD_DIALECT.null_values, pa.string())
    for name in surely_text:
        column = columns[name]
        typed[name] = pc.if_else(pc.is_in(column, value_set=null_tokens), pa.scalar(None, pa.string()), column)
    return dict(zip(typed, convert_datetime_strings(pa.table(typed)).columns, strict=True))


def _read_back(columns: dict[str, Any]) -> pa.Table:
    """Through the CSV writer and the upload's reader, in memory: the dialect is ours, nothing to detect."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns), buffer)
    return read_arrow_csv(pa.BufferReader(buffer.getvalue()), UPLOAD_DIALECT)
