"""Text columns that hold dates, parsed chunk by chunk with the format their first chunk uses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from services.ingest.types import datetime_format, few_enough_unparsed, unparsed_datetimes

Tabular: TypeAlias = "pa.Table | pa.RecordBatch"


class DatetimeColumns:
    """Text columns that hold dates, by the format their first chunk uses; counts what fails later.

    `convert` is safe on the parsing threads: it returns what it failed to parse, and only `count`,
    on the collecting thread, adds to the totals.
    """

    def __init__(self, formats: dict[str, str]) -> None:
        self.formats = formats
        self.unparsed = dict.fromkeys(formats, 0)
        self.values = dict.fromkeys(formats, 0)

    @classmethod
    def chosen_from(cls, data: pa.RecordBatch | pa.Table, plain_text: Iterable[str] = ()) -> DatetimeColumns:
        formats = {}
        for described, column in zip(data.schema, data.columns, strict=False):
            if described.name in plain_text:
                continue
            if pa.types.is_string(described.type) or pa.types.is_large_string(described.type):
                found = datetime_format(column)
                if found is not None:
                    formats[described.name] = found
        return cls(formats)

    def convert(self, data: Tabular) -> tuple[Tabular, dict[str, tuple[int, int]]]:
        """The data with each date column parsed by its format, and per column (values, unparsed)."""
        if not self.formats:
            return data, {}
        columns = list(data.columns)
        tally = {}
        for index, name in enumerate(data.schema.names):
            if name in self.formats:
                original = columns[index]
                columns[index] = pc.strptime(original, format=self.formats[name], unit="s", error_is_null=True)
                tally[name] = (len(original) - original.null_count, unparsed_datetimes(original, columns[index]))
        return type(data).from_arrays(columns, names=data.schema.names), tally

    def count(self, tally: dict[str, tuple[int, int]]) -> None:
        for name, (values, unparsed) in tally.items():
            self.values[name] += values
            self.unparsed[name] += unparsed

    def nearly_all_parsed(self) -> bool:
        return not self.failing()

    def failing(self) -> set[str]:
        """The columns whose format failed on too many values to call them dates."""
        return {name for name in self.formats if not few_enough_unparsed(self.unparsed[name], self.values[name])}
