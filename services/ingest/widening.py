"""Column types widened over a file's chunks, for a file too large to read whole: a first pass reads each chunk
with pyarrow's own inference and keeps, per column, a type that holds every chunk's values (`survey_types` in
stream.py); the real pass then reads every chunk with those types fixed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class Widened:
    """For a file too large to read whole: the types a first pass over every chunk settled, fixed from the start,
    and the columns that stay text rather than dates."""

    types: dict[str, pa.DataType]
    plain_text: set[str] = field(default_factory=set)


def wider(known: pa.DataType, seen: pa.DataType) -> pa.DataType:
    """The narrowest of pyarrow's inferred types that holds both: null gives way, integers widen to floats,
    anything else disagreeing is text (what pyarrow's reader infers when it sees the whole column)."""
    if known == seen or pa.types.is_null(seen):
        return known
    if pa.types.is_null(known):
        return seen
    if {
        pa.types.is_integer(known) or pa.types.is_floating(known),
        pa.types.is_integer(seen) or pa.types.is_floating(seen),
    } == {True}:
        return pa.float64()
    return pa.string()


class SurveyedTypes:
    """Stands in for the Parquet writer in a survey: widens the running types with each chunk's."""

    def __init__(self, types: dict[str, pa.DataType]) -> None:
        self.types = types  # by the file's own column names, as pyarrow's column_types wants them

    def __enter__(self) -> SurveyedTypes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def add(self, table: pa.Table) -> None:
        for name, seen in zip(list(self.types), table.schema.types, strict=True):
            self.types[name] = wider(self.types[name], seen)
