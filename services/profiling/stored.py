"""A stored profile (profile.json beside the data), as the PROFILE job writes it and the schema reads it.

Only what the API reads is typed; the rest (the missing-values matrix, internal sampling figures, what the
reports and plots use) is carried along unchanged (`extra="allow"`), so writing through the model changes
nothing in the file. Defaults let profiles written before a field existed still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Stored(BaseModel):
    model_config = ConfigDict(extra="allow")


class NumericStats(Stored):
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    p5: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    p95: float | None = None
    iqr: float | None = None
    mad: float | None = None
    skewness: float | None = None
    kurtosis: float | None = None
    sum: float | None = None
    zeros: int = 0
    negatives: int = 0
    infinite: int = 0
    outliers: int = 0
    monotonic: str | None = None

    def figures(self) -> dict[str, Any]:
        """The typed figures only (no carried-along extras): what the GraphQL type takes."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class DatetimeStats(Stored):
    min: str | None = None  # ISO 8601
    max: str | None = None
    range_seconds: float | None = None
    inferred_frequency: str | None = None


class TextStats(Stored):
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None


class Histogram(Stored):
    edges: list[float]
    counts: list[int]


class ValueCount(Stored):
    value: Any = None
    count: int
    ratio: float


class ColumnCounts(BaseModel):
    """What a column's profile counts first, and a report's column section shows as the profile has it (a plain
    BaseModel: each model built on it keeps its own config)."""

    name: str
    semantic_type: str
    dtype: str
    count: int
    null_count: int
    null_ratio: float
    distinct_count: int


class ColumnProfile(Stored, ColumnCounts):
    is_unique: bool
    top_values: list[ValueCount] = []
    numeric: NumericStats | None = None
    datetime: DatetimeStats | None = None
    text: TextStats | None = None
    histogram: Histogram | None = None


class Correlations(Stored):
    columns: dict[str, list[str]] = {}  # per method
    values: dict[str, list[list[float | None]] | None] = {}


class MissingPattern(Stored):
    columns: list[str]
    count: int
    ratio: float


class Alert(Stored):
    kind: str
    column: str | None = None
    columns: list[str] | None = None
    message: str
    value: float | None = None


class TimeSeriesHint(Stored):
    column: str
    frequency: str | None = None
    monotonic: bool
    gaps: int


class Approximation(Stored):
    figure: str
    column: str | None = None
    method: str
    rows: int
    sample_rows: int | None = None
    error_bound: float | None = None
    detail: str


class Sampling(Stored):
    approximations: list[Approximation] = []

    def as_stored(self) -> dict[str, Any]:
        """The object as the file has it, keys in its order (the job writes `approximations` last)."""
        shown = dict(self.model_extra or {})
        if "approximations" in self.model_fields_set:
            shown["approximations"] = [a.model_dump(exclude_unset=True) for a in self.approximations]
        return shown


class Plot(Stored):
    kind: str
    column: str | None = None
    file: str


class StoredProfile(Stored):
    row_count: int
    column_count: int
    missing_cells: int
    missing_cells_ratio: float
    duplicate_rows: int
    memory_bytes: float
    generated_at: str  # ISO 8601
    duration_ms: float
    columns: list[ColumnProfile] = []
    correlations: Correlations = Correlations()
    missing_patterns: list[MissingPattern] = []
    alerts: list[Alert] = []
    time_series: TimeSeriesHint | None = None
    sampling: Sampling = Sampling()
    plots: list[Plot] = []

    def stored(self) -> dict[str, Any]:
        """The file's content: what was set, extras included, as the job wrote it before the model existed."""
        return self.model_dump(exclude_unset=True)


class ProfileResult(Stored):
    """The PROFILE job's result (the profile itself is the file above): what the Profile row counts."""

    duration_ms: float
    alerts: int
    plots: int
