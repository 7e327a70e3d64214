"""Collected records beyond the job's memory budget: written to scratch as they arrive, typed on disk.

While a source is collected, the pages held are measured against the job's share of its budget (the
share the rest of the pipeline job uses, see `fits_the_budget`). Past it, they are written as one
segment in the job's scratch dir (an Arrow IPC file) and let go; collection goes on. Pages may gain
columns or change a column's kind from one to the next, so each segment keeps the schema its own pages had.

When collection ends, the segments are read one at a time (each was once held in memory) into one
scratch Parquet file typed as `typed_like_an_upload` types a table in memory: kinds unified across
segments as `pa.concat_tables(promote_options="permissive")` unifies pages (a column mixing kinds is
JSON text, as the Python pass makes it), text read back through the upload's CSV reader with one type
per column for the whole file, and dates parsed with the format the column's first 2,000 values show.
Where that can differ from typing the whole table at once: a text column that reads back as dates in one
segment and dates with times in another is text (as the streamed ingest widens, see `wider`), where the whole
column reads as timestamps; and in a column mixing numbers with text, whole numbers that shared a segment with
floats are written as floats ("1.0").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.ingest.parquet import rows_per_group
from services.ingest.parse import clean_column_names
from services.ingest.types import datetime_format, few_enough_unparsed, unparsed_datetimes
from services.ingest.widening import wider
from services.pipelines.fetch import Log
from services.pipelines.records import ARROW_REFUSALS, UPLOAD_DIALECT, as_text, read_back, with_lists_as_text
from services.preprocessing.engine import PANDAS_COPIES

MB = 2**20
BUDGET_SHARE = 0.5  # of the job's budget for the rows a pipeline holds, with the copies processing makes
DATE_SAMPLE = 2000  # as datetime_format: the format is chosen from a column's first non-null values


# Segments are Arrow's own file format, lz4-compressed: read back several times, and decoding Parquet cost more
# than the rest of typing them (0.26 s a 25 MB segment, against lz4's ~0.03 s).
SEGMENT_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def _segment(path: Path) -> pa.ipc.RecordBatchFileReader:
    return pa.ipc.open_file(pa.memory_map(str(path)))


def fits_the_budget(nbytes: int, memory_mb: int) -> bool:
    """Whether `nbytes` of Arrow data, with the pandas copies processing makes, fits the job's share of its budget."""
    return nbytes * PANDAS_COPIES <= memory_mb * MB * BUDGET_SHARE


@dataclass
class Spill:
    """Where a job's collected records go beyond its budget: `folder` is the job's scratch dir, removed with it."""

    folder: Path
    memory_mb: int
    prefix: str
    log: Log
    segments: list[Path] = field(default_factory=list)
    rows: int = 0

    @property
    def share_bytes(self) -> int:
        """The Arrow bytes held that fit the job's share (see fits_the_budget)."""
        return int(self.memory_mb * MB * BUDGET_SHARE / PANDAS_COPIES)

    def over(self, held_bytes: int) -> bool:
        return not fits_the_budget(held_bytes, self.memory_mb)

    def write(self, table: pa.Table, held_bytes: int) -> None:
        """One segment: the pages held so far, their lists and objects as JSON text (as typing makes them anyway)."""
        if not self.segments:
            self.log(
                f"The records collected so far ({held_bytes / MB:,.1f} MB held) would not fit the job's share of "
                f"its {self.memory_mb:,} MB memory budget: the source spilled to disk, and collection goes on "
                "writing the records to a scratch file as they arrive",
                "INFO",
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.prefix}-segment-{len(self.segments) + 1:05}.arrow"
        self.segments.append(path)  # before writing: a half-written one is removed with the rest
        table = with_lists_as_text(table)
        with pa.ipc.new_file(path, table.schema, options=SEGMENT_OPTIONS) as writer:
            writer.write_table(table)
        self.rows += table.num_rows

    def typed_file(self) -> Path:
        """The segments as one Parquet file typed like an upload; the segments are removed."""
        target = self.folder / f"{self.prefix}-collected.parquet"
        try:
            write_typed(self.segments, target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        finally:
            self.discard()
        self.log(f"Typed the {self.rows:,} spilled records on disk, segment by segment", "INFO")
        return target

    def discard(self) -> None:
        for path in self.segments:
            path.unlink(missing_ok=True)
        self.segments = []


def write_typed(segments: list[Path], target: Path) -> None:
    """Three passes over the segments: the types of the text, then whether dates parse, then the typed file."""
    kinds = _unified_kinds([_segment(path).schema for path in segments])
    names = clean_column_names(list(kinds))
    text = [
        name
        for name, kind in zip(names, kinds.values(), strict=True)
        if kind is None or pa.types.is_string(kind) or pa.types.is_null(kind)
    ]
    types: dict[str, pa.DataType] = dict.fromkeys(text, pa.null())
    samples: dict[str, list[pa.Array]] = {name: [] for name in text}
    for table in _aligned(segments, kinds, names):
        undecided = [name for name in text if not pa.types.is_string(types[name])]
        if undecided:
            seen = read_back({name: table.column(name) for name in undecided})
            for name, column in zip(undecided, seen.columns, strict=True):
                types[name] = wider(types[name], column.type)
        for name in text:
            if sum(len(chunk) for chunk in samples[name]) < DATE_SAMPLE:
                samples[name].append(pc.drop_null(_without_null_tokens(table.column(name))).combine_chunks())
    formats = _date_formats(types, samples)
    if formats:
        formats = _parsing_formats(segments, kinds, names, formats)
    with _TypedWriter(target) as writer:
        for table in _aligned(segments, kinds, names):
            writer.add(_typed(table, types, formats))


def _unified_kinds(schemas: list[pa.Schema]) -> dict[str, pa.DataType | None]:
    """Per column (in order of first appearance), the kind every segment's values fit; None when they mix kinds."""
    seen: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for described in schema:
            seen.setdefault(described.name, []).append(described.type)
    kinds: dict[str, pa.DataType | None] = {}
    for name, found in seen.items():
        try:
            unified = pa.unify_schemas([pa.schema([(name, kind)]) for kind in found], promote_options="permissive")
            kinds[name] = unified.field(0).type
        except ARROW_REFUSALS:
            kinds[name] = None
    return kinds


def _aligned(segments: list[Path], kinds: dict[str, pa.DataType | None], names: list[str]) -> Any:
    """Each segment with every column, of its unified kind (mixed kinds as JSON text), under its clean name."""
    for path in segments:
        table = _segment(path).read_all()
        present: dict[str, pa.ChunkedArray] = {}
        for name, column in zip(table.column_names, table.columns, strict=True):
            present.setdefault(name, column)  # the same name twice: the first wins, as in one record
        columns = []
        for name, kind in kinds.items():
            column = present.get(name)
            if column is None:
                columns.append(pa.nulls(table.num_rows, kind or pa.string()))
            elif kind is None:
                columns.append(pa.array([None if v is None else as_text(v) for v in column.to_pylist()], pa.string()))
            else:
                columns.append(column.cast(kind) if column.type != kind else column)
        yield pa.table(columns, names=names)


def _date_formats(types: dict[str, pa.DataType], samples: dict[str, list[pa.Array]]) -> dict[str, str]:
    formats = {}
    for name, kind in types.items():
        if pa.types.is_string(kind) and samples[name]:
            found = datetime_format(pa.chunked_array(samples[name], pa.string()))
            if found is not None:
                formats[name] = found
    return formats


def _parsing_formats(
    segments: list[Path], kinds: dict[str, pa.DataType | None], names: list[str], formats: dict[str, str]
) -> dict[str, str]:
    """The formats that parse nearly every value of their column in every segment (else it stays text)."""
    values, unparsed = dict.fromkeys(formats, 0), dict.fromkeys(formats, 0)
    for table in _aligned(segments, kinds, names):
        for name, fmt in formats.items():
            column = _without_null_tokens(table.column(name))
            parsed = pc.strptime(column, format=fmt, unit="s", error_is_null=True)
            values[name] += len(column) - column.null_count
            unparsed[name] += unparsed_datetimes(column, parsed)
    return {name: fmt for name, fmt in formats.items() if few_enough_unparsed(unparsed[name], values[name])}


def _typed(table: pa.Table, types: dict[str, pa.DataType], formats: dict[str, str]) -> pa.Table:
    others = {name: kind for name, kind in types.items() if not (pa.types.is_string(kind) or pa.types.is_null(kind))}
    typed = (
        dict(zip(others, read_back({name: table.column(name) for name in others}, others).columns, strict=True))
        if others
        else {}
    )
    for name, kind in types.items():
        if pa.types.is_null(kind):  # nothing but null tokens everywhere
            typed[name] = pa.nulls(table.num_rows)
        elif pa.types.is_string(kind):
            column = _without_null_tokens(table.column(name))
            fmt = formats.get(name)
            typed[name] = pc.strptime(column, format=fmt, unit="s", error_is_null=True) if fmt else column
    return pa.table(
        {name: typed.get(name, column) for name, column in zip(table.column_names, table.columns, strict=True)}
    )


NULL_TOKENS = pa.array(UPLOAD_DIALECT.null_values, pa.string())


def _without_null_tokens(column: Any) -> Any:
    if pa.types.is_null(column.type):
        return column.cast(pa.string())
    return pc.if_else(pc.is_in(column, value_set=NULL_TOKENS), pa.scalar(None, pa.string()), column)


class _TypedWriter:
    """The typed file in row groups of the canonical copy's size, strings dictionary-encoded as write_parquet does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> _TypedWriter:
        return self

    def add(self, table: pa.Table) -> None:
        if self._writer is None:
            self._schema = table.schema
            strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="snappy", use_dictionary=strings)
        assert self._schema is not None
        typed = table.cast(self._schema)
        self._writer.write_table(typed, row_group_size=rows_per_group(typed))

    def __exit__(self, *exc_info: object) -> None:
        if self._writer is not None:
            self._writer.close()
