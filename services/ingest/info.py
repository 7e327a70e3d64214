"""How a file was read, as the INGEST job stores it on the dataset (`Dataset.ingest_info`, a JSON column).

The job writes an `IngestInfo`, the schema reads one back: a misspelled key fails here, not as a silent null.
Every field has a default, so rows written before a field existed still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.stored import StoredModel


class IngestAlert(StoredModel):
    code: str
    message: str


class RejectedLine(StoredModel):
    line: int
    text: str
    reason: str


class IngestInfo(StoredModel):
    format: str | None = None  # TEXT, GZIP, XLSX, XLS, ODS or PARQUET
    encoding: str | None = None
    encoding_confidence: float | None = None
    delimiter: str | None = None
    quote_char: str | None = None
    has_header: bool | None = None
    decimal: str | None = None
    skip_rows: int | None = None
    line_ending: str | None = None
    sheet: str | None = None
    nul_bytes_removed: int = 0
    padded_lines: int = 0
    trimmed_lines: int = 0
    rejected_lines: int = 0
    rejects: list[RejectedLine] = Field(default_factory=list)  # the first few; all of them in the rejects download
    alerts: list[IngestAlert] = Field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        """The JSON column's value: only what was set, so a file's info reads as before (no nulls for a workbook)."""
        return self.model_dump(mode="json", exclude_unset=True)


class DatasetColumn(StoredModel):
    """One column as a dataset keeps it (`Dataset.columns`): what ingest, preprocessing and prediction write."""

    name: str
    index: int
    semantic_type: str
    dtype: str
    null_count: int | None = None


class IngestResult(StoredModel):
    """The INGEST job's result, as its success hook applies it to the dataset."""

    row_count: int
    column_count: int
    columns: list[DatasetColumn]
    ingest_info: IngestInfo
    size_bytes: int | None = None  # known only at the end for an upload ingested while it arrived
