"""Ingest in one pass: parse block by block while a thread writes the Parquet copy.

pyarrow's streaming reader fixes each column's type from the first block, where the whole-file
reader widens a type when a later block needs it. So a later block that disagrees — or any
other surprise — raises NotStreamable, and the caller reads the whole file as before. The one
way the result can differ: a text column's date format is chosen from its values in the first
block (~8 MB) rather than its first 2,000 values anywhere, which matters only for a column with
under 2,000 values in that block.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from services.errors import ServiceError
from services.ingest.detect import WHITESPACE, CsvDialect
from services.ingest.parquet import ParquetBatchWriter
from services.ingest.parse import arrow_csv_options, clean_column_names, open_text_bytes
from services.ingest.types import datetime_format, few_enough_unparsed, unparsed_datetimes


class NotStreamable(Exception):
    """This file needs the whole-file reader (a type changed after the first block, or no rows)."""


def parse_and_write(path: Path, dialect: CsvDialect, parquet_path: Path, *, max_decompressed: int) -> pa.Table:
    """The parsed table, with its Parquet copy written to `parquet_path` along the way."""
    if dialect.delimiter == WHITESPACE:
        raise NotStreamable("runs of spaces are read by pandas")
    read_options, parse_options, convert_options = arrow_csv_options(dialect)
    batches: list[pa.RecordBatch] = []
    dates: DatetimeColumns | None = None
    try:
        with open_text_bytes(path, max_decompressed) as stream, ParquetBatchWriter(parquet_path) as writer:
            reader = pacsv.open_csv(stream, read_options=read_options, parse_options=parse_options,
                                    convert_options=convert_options)
            names = reader.schema.names if dialect.has_header else [f"column_{i + 1}" for i in range(len(reader.schema))]
            names = clean_column_names(names)
            for batch in reader:
                batch = pa.RecordBatch.from_arrays(batch.columns, names=names)
                dates = dates or DatetimeColumns.chosen_from(batch)
                batch = dates.convert(batch)
                batches.append(batch)
                writer.add(batch)
    except ServiceError:
        raise
    except Exception as exc:  # noqa: BLE001 - the whole-file reader decides, and explains any error
        raise NotStreamable(str(exc)) from exc
    if not batches or not names:
        raise NotStreamable("no data rows")
    if dates is not None and not dates.nearly_all_parsed():
        raise NotStreamable("a date column has too many values its format does not parse")
    return pa.Table.from_batches(batches)


class DatetimeColumns:
    """Text columns that hold dates, by the format their first block uses; counts what fails later."""

    def __init__(self, formats: dict[str, str]) -> None:
        self.formats = formats
        self.unparsed = dict.fromkeys(formats, 0)
        self.values = dict.fromkeys(formats, 0)

    @classmethod
    def chosen_from(cls, batch: pa.RecordBatch) -> "DatetimeColumns":
        formats = {}
        for field, column in zip(batch.schema, batch.columns):
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                found = datetime_format(column)
                if found is not None:
                    formats[field.name] = found
        return cls(formats)

    def convert(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.formats:
            return batch
        columns = list(batch.columns)
        for index, name in enumerate(batch.schema.names):
            if name in self.formats:
                original = columns[index]
                parsed = pc.strptime(original, format=self.formats[name], unit="s", error_is_null=True)
                self.unparsed[name] += unparsed_datetimes(original, parsed)
                self.values[name] += len(original) - original.null_count
                columns[index] = parsed
        return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)

    def nearly_all_parsed(self) -> bool:
        return all(few_enough_unparsed(self.unparsed[name], self.values[name]) for name in self.formats)
