"""Ingest types: how an uploaded or imported file is to be read (CSV options) and how it was read (the detected
encoding, delimiter and header, padded and rejected lines, alerts)."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.experimental import pydantic as from_model

from schema.common import ServiceErrors
from schema.conversion import fields_of
from services.ingest import info as stored
from services.ingest.info import IngestInfo as StoredIngestInfo
from services.pagination import checked_count


@strawberry.enum(description="What to do with a line whose field count is not the header's")
class BadLines(Enum):
    PAD = strawberry.enum_value(
        "PAD",
        description="Default: pad short lines with nulls, drop extra fields that are "
        "all empty, reject other long lines (kept, counted, downloadable)",
    )
    SKIP = strawberry.enum_value("SKIP", description="As PAD, but reject short lines too")
    FAIL = strawberry.enum_value("FAIL", description="Fail the upload at the first such line")


@strawberry.enum(description="What the uploaded file was read as")
class FileFormat(Enum):
    TEXT = "TEXT"
    GZIP = "GZIP"
    XLSX = "XLSX"
    XLS = "XLS"
    ODS = "ODS"
    PARQUET = "PARQUET"


@from_model.type(
    model=stored.RejectedLine,
    all_fields=True,
    description="A line ingest did not load: its number in the file, its text, and why.",
)
class RejectedLine:
    """The stored line as it is (services.ingest.info.RejectedLine)."""


@strawberry.type(description="Something about how the file was read that the user should check.")
class IngestAlert:
    code: str = strawberry.field(description="ENCODING_UNCERTAIN: the detected encoding is a low-confidence guess")
    message: str


@strawberry.type(description="How the file was read: detected or given.")
class IngestInfo:
    encoding: str | None
    delimiter: str | None
    has_header: bool | None
    decimal: str | None
    skipped_lines: int | None = strawberry.field(
        description="Lines above the header that were skipped: blank, "
        "comment, or with another field count than the table"
    )
    format: FileFormat | None = None
    quote_char: str | None = strawberry.field(default=None, description="Detected like the delimiter: \" or '")
    sheet: str | None = strawberry.field(default=None, description="The workbook sheet that was read")
    padded_lines: int = strawberry.field(default=0, description="Short lines padded with nulls")
    trimmed_lines: int = strawberry.field(default=0, description="Long lines whose extra, empty fields were dropped")
    rejected_lines: int = strawberry.field(
        default=0, description="Lines not loaded; see `rejects` and `downloadUrl(format: REJECTS)`"
    )
    nul_bytes_removed: int = strawberry.field(default=0, description="Stray NUL bytes removed from the text")
    encoding_confidence: float | None = strawberry.field(
        default=None,
        description="How sure encoding detection was, 0-1 (1: a byte-order mark or valid UTF-8); "
        "null when the encoding was given or the file is not text",
    )
    info: strawberry.Private[StoredIngestInfo]

    @strawberry.field(description="Warnings about how the file was read (e.g. an uncertain encoding)")
    def alerts(self) -> list[IngestAlert]:
        return [IngestAlert(code=a.code, message=a.message) for a in self.info.alerts]

    @strawberry.field(
        description="The first rejected lines (`first` 0-100; all of them in the download)",
        extensions=[ServiceErrors()],
    )
    def rejects(self, first: int | None = 10) -> list[RejectedLine]:
        first = checked_count(first, name="first", default=10, most=100)
        return [RejectedLine.from_pydantic(r) for r in self.info.rejects[:first]]

    @classmethod
    def from_stored(cls, info: StoredIngestInfo) -> IngestInfo:
        return cls(
            **fields_of(
                cls,
                info,
                skipped_lines=info.skip_rows,
                info=info,
            )
        )


@strawberry.input
class CsvOptionsInput:
    delimiter: str | None = strawberry.field(default=None, description="Sniffed when absent")
    encoding: str | None = strawberry.field(default=None, description="Detected when absent")
    has_header: bool | None = strawberry.field(default=None, description="Detected when absent")
    na_values: list[str] | None = strawberry.field(default=None, description="Replaces the default null tokens")
    on_bad_lines: BadLines | None = strawberry.field(
        default=None, description="Lines with another field count than the header (PAD when absent)"
    )
    sheet: str | None = strawberry.field(default=None, description="The workbook sheet to read (the first when absent)")
