"""Collected records -> a typed Arrow table, nested objects flattened to dotted column names.

JSON numbers and booleans keep their types; text goes through the upload reader, so "2024-01-05",
"3.5" or "NA" inside strings are typed exactly as they would be in an uploaded CSV. Lists stay
whole, as JSON text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from services.ingest.detect import CsvDialect
from services.ingest.parse import arrow_csv_options, clean_column_names, convert_datetime_strings

if TYPE_CHECKING:
    from services.pipelines.spill import Spill

ARROW_REFUSALS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)
PYTHON_CELL_BYTES = 64  # a value held in the Python pass: its list slot and the object, about


class RecordPages:
    """Pages of records gathered into one table.

    Each page is converted by Arrow in one C call (the fetching thread barely waits for the GIL);
    once a page mixes kinds under one name (a number here, text there) everything moves to the
    slower Python pass, which turns such columns into text. Given `spill`, the pages held go to a
    scratch segment whenever they pass the job's share of its budget (services.pipelines.spill).
    `columns` starts in the Python pass with those columns (a scraped page gives its rows column by column).
    """

    def __init__(self, spill: Spill | None = None, *, columns: list[str] | None = None) -> None:
        self.rows = 0
        self.spill = spill
        self._names = columns
        self._tables: list[pa.Table] = []
        self._python: FlatColumns | None = FlatColumns(columns) if columns is not None else None

    def add(self, records: list[Any]) -> None:
        if not records:  # an empty page says nothing about columns
            return
        self.rows += len(records)
        if self._python is None:
            try:
                self._tables.append(_page_table(records))
            except ARROW_REFUSALS:
                self._switch_to_python()
        if self._python is not None:
            self._python.add(records)
        self._spill_when_over()

    def add_columns(self, count: int, columns: dict[str, list[Any]]) -> None:
        """`count` rows given column by column, in the Python pass (see FlatColumns.add_columns)."""
        if self._python is None:
            self._switch_to_python()
        assert self._python is not None
        self._python.add_columns(count, columns)
        self.rows += count
        self._spill_when_over()

    def result(self) -> pa.Table | Path:
        """The table typed like an upload; once anything spilled, a scratch Parquet file typed the same way."""
        if self.spill is None or not self.spill.segments:
            return self.to_table()
        if self.rows > self.spill.rows:
            self.spill.write(self._raw_table(), self._held_bytes())
        return self.spill.typed_file()

    def to_table(self) -> pa.Table:
        if self._python is None:
            try:
                return typed_like_an_upload(pa.concat_tables(self._tables, promote_options="permissive"))
            except ARROW_REFUSALS:  # pages disagree on a column's kind
                self._switch_to_python()
        assert self._python is not None
        return self._python.to_table()

    def _held_bytes(self) -> int:
        if self._python is None:
            return sum(table.nbytes for table in self._tables)
        return self._python.cells() * PYTHON_CELL_BYTES

    def _spill_when_over(self) -> None:
        if self.spill is None:
            return
        held = self._held_bytes()
        if self.spill.over(held):
            self.spill.write(self._raw_table(), held)
            self._tables = []
            # once in the Python pass, it stays there (as without spilling: `{}` is kept only by that pass)
            self._python = FlatColumns(self._names) if self._python is not None else None

    def _raw_table(self) -> pa.Table:
        """The pages held as one table, flattened but not yet typed like an upload."""
        if self._python is None:
            try:
                return pa.concat_tables(self._tables, promote_options="permissive")
            except ARROW_REFUSALS:
                self._switch_to_python()
        assert self._python is not None
        return self._python.raw_table()

    def _switch_to_python(self) -> None:
        self._python = FlatColumns(self._names)
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

    def cells(self) -> int:
        return sum(len(values) for values in self.columns.values())

    def to_table(self) -> pa.Table:
        return typed_like_an_upload(self.raw_table())

    def raw_table(self) -> pa.Table:
        """The columns as Arrow arrays, a column mixing kinds as JSON text; not yet typed like an upload."""
        arrays = {}
        for name, values in self.columns.items():
            values.extend([None] * (self.rows - len(values)))
            try:
                arrays[name] = pa.array(values)
            except ARROW_REFUSALS:  # mixed kinds: keep them as text
                arrays[name] = pa.array([None if v is None else as_text(v) for v in values], pa.string())
        return pa.table(arrays)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def typed_like_an_upload(table: pa.Table) -> pa.Table:
    """Clean names, lists and objects to JSON text, and text columns through the upload's CSV reader."""
    table = with_lists_as_text(table.rename_columns(clean_column_names(table.column_names)))
    columns = dict(zip(table.column_names, table.columns, strict=True))
    text = [
        name for name, column in columns.items() if pa.types.is_string(column.type) or pa.types.is_null(column.type)
    ]
    if text:
        columns.update(_typed_text(text, columns))
    return pa.table(columns)


def with_lists_as_text(table: pa.Table) -> pa.Table:
    """Lists and objects as JSON text: a column keeps them whole."""
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_struct(column.type):
            column = pa.array([None if v is None else as_text(v) for v in column.to_pylist()], pa.string())
        columns[name] = column
    return pa.table(columns)


UPLOAD_DIALECT = CsvDialect(encoding="utf-8", delimiter=",", has_header=True)
TEXT_SAMPLE = 1000


def _typed_text(names: list[str], columns: dict[str, Any]) -> dict[str, Any]:
    """Text columns as the upload reader types them, reading only what could turn out not to be text.

    One value the reader cannot convert keeps a whole column as text; so a column whose first
    values already read back as text is text, and only needs the reader's null tokens applied.
    """
    sample = read_back({name: columns[name][:TEXT_SAMPLE] for name in names})
    surely_text = {name for name, column in zip(names, sample.columns, strict=True) if pa.types.is_string(column.type)}
    undecided = [name for name in names if name not in surely_text]
    typed = (
        dict(zip(undecided, read_back({name: columns[name] for name in undecided}).columns, strict=True))
        if undecided
        else {}
    )
    null_tokens = pa.array(UPLOAD_DIALECT.null_values, pa.string())
    for name in surely_text:
        column = columns[name]
        typed[name] = pc.if_else(pc.is_in(column, value_set=null_tokens), pa.scalar(None, pa.string()), column)
    return dict(zip(typed, convert_datetime_strings(pa.table(typed)).columns, strict=True))


def read_back(columns: dict[str, Any], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Through the CSV writer and the upload's reader, in memory: the dialect is ours, nothing to detect.
    `types` fixes columns' types (a spilled table's, settled over all of it) instead of inferring them.

    Empty lines are rows here: a null in a lone column is written as one, and skipping it (as an upload's
    reader does) would lose the row."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(columns), buffer)
    read_options, parse_options, convert_options = arrow_csv_options(UPLOAD_DIALECT)
    parse_options.ignore_empty_lines = False
    if types is not None:
        convert_options.column_types = types
    return pacsv.read_csv(
        pa.BufferReader(buffer.getvalue()),
        read_options=read_options,
        parse_options=parse_options,
        convert_options=convert_options,
    )
