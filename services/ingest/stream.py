"""Ingest in one pass: parse the file in row-aligned chunks on two threads while a third writes Parquet.

pyarrow's streaming reader decodes one block after another on one core; its whole-file reader uses
both cores but holds about three times the table. Here the file is cut into ~16 MB chunks at row
boundaries, the first chunk is parsed alone to settle the columns' types (as the streaming reader
does from its first block), and the rest are parsed two at a time with those types fixed. A chunk
that disagrees with them — or any other surprise — raises NotStreamable, and the caller reads the
whole file, which widens a type when a later block needs it.

Chunks are cut at their last line break, and each proves before it is parsed that the cut was
not inside a quoted field: its quotes pair up, every opening quote starts a field and every
closing quote ends one (or is half of a doubled quote). A file where that fails (a quoted field
with line breaks across a cut, a stray quote inside an unquoted field, text after a closing
quote) or whose encoding's line break is not one byte (UTF-16) is read with pyarrow's serial
streaming reader instead, which is exact.

The one way the result can differ from the whole-file reader: a text column's date format is
chosen from its values in the first chunk rather than its first 2,000 values anywhere, which
matters only for a column with under 2,000 values in that chunk.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from services.errors import ServiceError
from services.ingest.chunks import CHUNK_BYTES, Chunk, NotSplittable, check_quotes, text_chunks
from services.ingest.date_columns import DatetimeColumns
from services.ingest.detect import WHITESPACE, CsvDialect
from services.ingest.disk import is_disk_full
from services.ingest.follow import FollowedFile
from services.ingest.parquet import ParquetBatchWriter
from services.ingest.parse import arrow_csv_options, clean_column_names, open_text_bytes, parse_options_for
from services.ingest.ragged import FAIL, PAD, RaggedLines
from services.ingest.sniff import NulCount
from services.ingest.widening import SurveyedTypes, Widened

PARSING_THREADS = 2
# Encodings where a newline, a quote and the delimiters are single bytes that never occur inside another character.
_BYTE_SPLITTABLE = {"utf-8", "utf-8-sig", "cp1252", "latin-1", "ascii"}
T = TypeVar("T")


class KeptParts:
    """The parsed parts (tables or record batches) kept in memory for the job's next steps, as long as they fit
    `keep_bytes`; past it none are (`parts` None): the Parquet copy alone has the rows."""

    def __init__(self, keep_bytes: int | None) -> None:
        self.keep_bytes = keep_bytes
        self.parts: list[pa.Table] | list[pa.RecordBatch] | None = []
        self.nbytes = 0

    def add(self, part: pa.Table | pa.RecordBatch) -> None:
        if self.parts is None:
            return
        self.parts.append(part)
        self.nbytes += part.nbytes
        if self.keep_bytes is not None and self.nbytes > self.keep_bytes:
            self.parts = None


class NotStreamable(Exception):
    """This file needs the whole-file reader (a type changed after the first chunk, or no rows)."""


class DatesNotParsed(NotStreamable):
    """Date columns whose first-chunk format fails on too many later values; they stay text when read again."""

    def __init__(self, names: set[str]) -> None:
        super().__init__("a date column has too many values its format does not parse")
        self.names = names


def parse_and_write(
    path: Path,
    dialect: CsvDialect,
    parquet_path: Path,
    *,
    max_decompressed: int,
    ragged: RaggedLines | None = None,
    nuls: NulCount | None = None,
    followed: FollowedFile | None = None,
    infer: Callable[[pa.Table], object] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    keep_bytes: int | None = None,
    widened: Widened | None = None,
) -> tuple[pa.Table | None, str]:
    """The parsed table, with its Parquet copy written to `parquet_path` along the way, and how it was read.

    Past `keep_bytes` of parsed data the table is not kept (None is returned; the Parquet copy has it
    all), so a file of any size is parsed in bounded memory. `widened` fixes every column's type
    from the start (see survey_types) instead of taking the first chunk's.

    Rows with another field count go to `ragged` (without it, the first fails the file); NUL bytes
    are removed (and counted) when `nuls` is given. A `followed` file is parsed while it arrives.
    `infer` is called with the parsed table while the last Parquet row groups are still being written.
    """
    ragged = ragged or RaggedLines(FAIL, dialect.delimiter, dialect.quote_char, dialect.encoding)
    followed = followed or FollowedFile(path)
    if dialect.delimiter == WHITESPACE:
        raise NotStreamable("runs of spaces are read by pandas")
    why_serial = f"its encoding ({dialect.encoding}) has multi-byte line breaks"
    if dialect.encoding in _BYTE_SPLITTABLE:
        try:
            table, chunks = _guarded(
                lambda: _parse_in_chunks(
                    path,
                    dialect,
                    parquet_path,
                    max_decompressed,
                    chunk_bytes,
                    ragged,
                    nuls,
                    followed,
                    infer,
                    keep_bytes,
                    widened,
                )
            )
            return table, f"in {chunks} chunk{'s' if chunks > 1 else ''} on {PARSING_THREADS} threads"
        except NotSplittable as reason:
            why_serial = str(reason)
            ragged.clear()
    if widened is not None:
        raise NotStreamable(f"types cannot be widened in one pass when {why_serial}")
    table = _guarded(
        lambda: _parse_serially(path, dialect, parquet_path, max_decompressed, ragged, nuls, followed, keep_bytes)
    )
    return table, f"serially ({why_serial})"


def return_freed_memory_promptly() -> None:
    """Arrow allocates from jemalloc with no decay in this (worker) process.

    Parsing frees as much as it keeps (each chunk's parse buffers); mimalloc, Arrow's default,
    holds on to the freed pages, which put the worker's peak 40-60 MB higher for 1M rows.
    """
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
        return
    pa.set_memory_pool(pool)
    pa.jemalloc_set_decay_ms(0)


def _guarded(parse: Callable[[], T]) -> T:
    """Our own refusals pass through; anything pyarrow raises sends the file to the whole-file reader."""
    try:
        return parse()
    except (ServiceError, NotSplittable, NotStreamable):
        raise
    except OSError as exc:
        if is_disk_full(exc):  # not a parsing problem: no other reader would do better
            raise
        raise NotStreamable(str(exc)) from exc
    except Exception as exc:  # the whole-file reader decides, and explains any error
        raise NotStreamable(str(exc)) from exc


def _parse_in_chunks(
    path: Path,
    dialect: CsvDialect,
    parquet_path: Path,
    max_decompressed: int,
    chunk_bytes: int,
    ragged: RaggedLines,
    nuls: NulCount | None,
    followed: FollowedFile,
    infer: Callable[[pa.Table], object] | None,
    keep_bytes: int | None = None,
    widened: Widened | None = None,
    survey: dict[str, pa.DataType] | None = None,
) -> tuple[pa.Table | None, int]:
    """The chunked parse; with a `survey` dict, nothing is written or kept: each chunk is read with pyarrow's own
    inference and the dict ends holding, per column, a type wide enough for every chunk."""
    read_options, _, convert_options = arrow_csv_options(dialect)
    newline = b"\r" if dialect.line_ending == "\r" else b"\n"
    delimiter, quote = dialect.delimiter.encode("ascii"), dialect.quote_char.encode("ascii")
    kept, written = KeptParts(keep_bytes), 0
    if widened is not None:
        convert_options.column_types = widened.types

    def parse(chunk: Chunk, read: pacsv.ReadOptions, convert: pacsv.ConvertOptions) -> pa.Table:
        """One chunk; rows with another field count are mended and the chunk read again, or rejected."""
        data = chunk.text(nuls)
        if bytes(data[-1:]) not in (b"\n", b"\r"):  # pyarrow cannot read a lone line without its line break
            data = bytes(data) + newline
        check_quotes(data, newline, delimiter, quote)
        rows = ragged.collector()
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=read,
            parse_options=parse_options_for(dialect, rows.handler),
            convert_options=convert,
        )
        repaired = rows.repair(data, newline, chunk.line_base)
        if repaired is not None:
            leftover = ragged.collector()
            table = pacsv.read_csv(
                pa.py_buffer(repaired),
                read_options=read,
                convert_options=convert,
                parse_options=parse_options_for(dialect, leftover.handler),
            )
            leftover.reject_all(repaired, newline, chunk.line_base)
        return table

    with text_chunks(path, newline, max_decompressed, chunk_bytes, followed) as chunks:
        first = next(chunks, None)
        if first is None:
            raise NotStreamable("an empty file")
        with first:
            head = parse(first, read_options, convert_options)
        if head.num_columns < 2 or head.num_rows == 0:  # one column: a cut inside a quoted field could go unseen
            raise NotSplittable("fewer than two columns, or no rows in the first chunk")
        ragged.check_most(head.num_rows)  # a wrong guess fails before the rest is read
        names = clean_column_names(
            head.column_names if dialect.has_header else [f"column_{i + 1}" for i in range(head.num_columns)]
        )
        dates = (
            DatetimeColumns.chosen_from(head.rename_columns(names), widened.plain_text if widened else ())
            if survey is None
            else DatetimeColumns({})
        )
        rest_read = pacsv.ReadOptions(
            encoding=read_options.encoding,
            column_names=head.column_names,
            block_size=max(chunk_bytes * 2, 1 << 20),
            use_threads=False,
        )
        rest_convert = convert_options  # the same conversions, with the first chunk's types fixed
        rest_convert.column_types = head.schema
        if survey is not None:
            rest_convert = arrow_csv_options(dialect)[2]  # each chunk infers its own types
            if len(set(head.column_names)) < head.num_columns:
                raise NotStreamable("two columns share a name")
            survey.update(zip(head.column_names, head.schema.types, strict=True))

        def parse_rest(chunk: Chunk) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
            with chunk:
                table = parse(chunk, rest_read, rest_convert)
            return dates.convert(table.rename_columns(names))

        with (
            ThreadPoolExecutor(PARSING_THREADS, thread_name_prefix="csv-chunk") as pool,
            ParquetBatchWriter(parquet_path) if survey is None else SurveyedTypes(survey) as writer,
        ):

            def keep(converted: tuple[pa.Table, dict[str, tuple[int, int]]]) -> None:
                nonlocal written
                table, tally = converted
                dates.count(tally)
                written += 1
                kept.add(table)
                writer.add(table)

            keep(dates.convert(head.rename_columns(names)))
            in_flight: deque[Future[tuple[pa.Table, dict[str, tuple[int, int]]]]] = deque()
            for chunk in chunks:
                in_flight.append(pool.submit(parse_rest, chunk))
                if len(in_flight) > PARSING_THREADS:
                    keep(in_flight.popleft().result())
            while in_flight:
                keep(in_flight.popleft().result())
            if dates.failing():
                raise DatesNotParsed(dates.failing())
            table = pa.concat_tables(kept.parts) if kept.parts is not None else None
            inferred = None
            if table is not None:
                ragged.check_most(table.num_rows)
                inferred = pool.submit(infer, table) if infer is not None else None  # beside the Parquet tail
        if inferred is not None:
            inferred.result()
    if table is None and survey is None:
        ragged.check_most(pq.ParquetFile(parquet_path).metadata.num_rows)
    return table, written


def survey_types(
    path: Path,
    dialect: CsvDialect,
    *,
    max_decompressed: int,
    nuls: NulCount | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Widened:
    """A first pass for a file too large to read whole: per column, a type that holds every chunk's values.

    Each chunk is read with pyarrow's inference and the types widened (see `wider`); nothing is kept.
    Raises NotSplittable or NotStreamable when the chunked reader cannot take the file.
    """
    if dialect.delimiter == WHITESPACE or dialect.encoding not in _BYTE_SPLITTABLE:
        raise NotSplittable(
            "the chunked reader cannot take "
            f"{'runs of spaces' if dialect.delimiter == WHITESPACE else dialect.encoding}"
        )
    found: dict[str, pa.DataType] = {}
    scratch = RaggedLines(PAD, dialect.delimiter, dialect.quote_char, dialect.encoding)  # the real pass rejects lines
    with tempfile.TemporaryDirectory() as unused:
        _guarded(
            lambda: _parse_in_chunks(
                path,
                dialect,
                Path(unused) / "unused.parquet",
                max_decompressed,
                chunk_bytes,
                scratch,
                nuls,
                FollowedFile(path),
                None,
                0,
                None,
                found,
            )
        )
    return Widened(found)


def _parse_serially(
    path: Path,
    dialect: CsvDialect,
    parquet_path: Path,
    max_decompressed: int,
    ragged: RaggedLines,
    nuls: NulCount | None,
    followed: FollowedFile,
    keep_bytes: int | None = None,
) -> pa.Table | None:
    """pyarrow's streaming reader: one block after another, exact for any quoting and encoding.

    Rows with another field count cannot be put back into a stream already converted: the
    whole-file reader takes a file that has them.
    """
    rows = ragged.collector()
    read_options, parse_options, convert_options = arrow_csv_options(dialect, rows.handler)
    kept, count = KeptParts(keep_bytes), 0
    dates: DatetimeColumns | None = None
    names: list[str] = []
    with open_text_bytes(path, max_decompressed, nuls, followed) as stream, ParquetBatchWriter(parquet_path) as writer:
        reader = pacsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
        names = reader.schema.names if dialect.has_header else [f"column_{i + 1}" for i in range(len(reader.schema))]
        names = clean_column_names(names)
        for batch in reader:
            if rows.rows:
                raise NotStreamable("some lines have another number of fields than the header")
            batch = pa.RecordBatch.from_arrays(batch.columns, names=names)
            dates = dates or DatetimeColumns.chosen_from(batch)
            batch, tally = dates.convert(batch)
            dates.count(tally)
            count += 1
            kept.add(batch)
            writer.add(batch)
    if rows.rows:
        raise NotStreamable("some lines have another number of fields than the header")
    if not count or not names:
        raise NotStreamable("no data rows")
    if dates is not None and dates.failing():
        raise DatesNotParsed(dates.failing())
    return pa.Table.from_batches(kept.parts) if kept.parts is not None else None
