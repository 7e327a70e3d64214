"""Profile types: per-column statistics, correlations, missing patterns, alerts, plots."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.experimental import pydantic as from_model
from strawberry.scalars import JSON

from schema.common import SemanticType, ServiceErrors
from schema.conversion import described, fields_of
from schema.jobs import JobPriority, priority_input
from services.pagination import checked_count
from services.profiling import stored


@strawberry.enum
class CorrelationMethod(Enum):
    PEARSON = "PEARSON"
    SPEARMAN = "SPEARMAN"
    KENDALL = "KENDALL"
    CRAMERS_V = "CRAMERS_V"


@strawberry.enum
class AlertKind(Enum):
    CONSTANT = "CONSTANT"
    HIGH_CARDINALITY = "HIGH_CARDINALITY"
    HIGH_CORRELATION = "HIGH_CORRELATION"
    SKEWED = "SKEWED"
    IMBALANCED = "IMBALANCED"
    MISSING = "MISSING"
    UNIQUE = "UNIQUE"
    ZEROS = "ZEROS"
    DUPLICATES = "DUPLICATES"
    UNIFORM = "UNIFORM"
    MIXED_TYPES = "MIXED_TYPES"
    OUTLIERS = "OUTLIERS"
    REJECTED_LINES = "REJECTED_LINES"
    PADDED_LINES = "PADDED_LINES"


@strawberry.enum
class PlotKind(Enum):
    HISTOGRAM = "HISTOGRAM"
    CORRELATION_HEATMAP = "CORRELATION_HEATMAP"
    MISSING_MATRIX = "MISSING_MATRIX"
    BOX = "BOX"
    CONFUSION_MATRIX = "CONFUSION_MATRIX"
    FEATURE_IMPORTANCE = "FEATURE_IMPORTANCE"


@strawberry.enum(description="A profile figure that can be approximate or computed on a sample")
class ProfileFigure(Enum):
    QUANTILES = strawberry.enum_value(
        "QUANTILES",
        description="p5, q1, median, q3, p95, iqr, mad, outliers, and "
        "the histogram's bin count (Freedman–Diaconis uses the IQR)",
    )
    DISTINCT_COUNT = "DISTINCT_COUNT"
    IS_UNIQUE = "IS_UNIQUE"
    TOP_VALUES = strawberry.enum_value("TOP_VALUES", description="Top values and their counts")
    CORRELATIONS = strawberry.enum_value("CORRELATIONS", description="Pearson, Spearman and Cramér's V")
    KENDALL = "KENDALL"
    SEMANTIC_TYPES = strawberry.enum_value("SEMANTIC_TYPES", description="Column types, inferred at ingest")
    MIXED_TYPES = strawberry.enum_value("MIXED_TYPES", description="The share of numeric-looking text values")
    DUPLICATE_ROWS = strawberry.enum_value("DUPLICATE_ROWS", description="Rows equal to an earlier row")


@strawberry.enum(description="How an approximate figure was computed")
class EstimateMethod(Enum):
    SAMPLE = strawberry.enum_value("SAMPLE", description="Exact on a seeded sample of rows")
    T_DIGEST = strawberry.enum_value("T_DIGEST", description="DuckDB's approx_quantile sketch over every row")
    HYPERLOGLOG = strawberry.enum_value("HYPERLOGLOG", description="DuckDB's approx_count_distinct over every row")
    COLUMN_SUBSET = strawberry.enum_value(
        "COLUMN_SUBSET", description="Computed for some columns only (a wide table): `detail` says which"
    )
    ROW_HASH = strawberry.enum_value(
        "ROW_HASH", description="Counted by a 64-bit hash of each row, rows sharing a hash not compared whole"
    )


@strawberry.type(
    description="A figure of the profile that is not exact: how it was estimated and how far off it "
    "may be. Figures not listed are exact."
)
class ApproximateFigure:
    figure: ProfileFigure
    column: str | None = strawberry.field(description="The column; null for a table-wide figure")
    method: EstimateMethod
    rows: int = strawberry.field(description="Rows in the table")
    sample_rows: int | None = strawberry.field(description="Rows the figure was computed on, for SAMPLE")
    error_bound: float | None = strawberry.field(
        description="QUANTILES: rank error as a share of rows; DISTINCT_COUNT: relative error; TOP_VALUES: error of "
        "a value's ratio (95%); CORRELATIONS and KENDALL: 95% interval of a coefficient near 0; null "
        "when no bound is stated"
    )
    detail: str


@described(
    std="Sample standard deviation (ddof=1), as pandas",
    mad="Median absolute deviation (scale 1), as scipy",
    skewness="Bias-corrected, as pandas",
    kurtosis="Excess, bias-corrected, as pandas",
    outliers="Values beyond 1.5 IQR from the quartiles",
    monotonic='"increasing", "decreasing" or null',
)
@from_model.type(model=stored.NumericStats, all_fields=True)
class NumericStats:
    """The stored figures' own fields (services.profiling.stored.NumericStats), so a new figure is declared once."""


@strawberry.type
class DatetimeStats:
    min: datetime | None
    max: datetime | None
    range_seconds: float | None
    inferred_frequency: str | None = strawberry.field(description="Pandas-style offset alias: s, min, h, D, W, M...")


@from_model.type(model=stored.TextStats, all_fields=True)
class TextStats:
    """The stored lengths as they are (services.profiling.stored.TextStats)."""


@described("Bin edges (one more than counts). For datetimes the edges are epoch seconds.")
@from_model.type(model=stored.Histogram, all_fields=True)
class Histogram:
    """The stored bins as they are (services.profiling.stored.Histogram)."""


@strawberry.type
class ValueCount:
    value: JSON | None
    count: int
    ratio: float


@strawberry.type
class CorrelationMatrix:
    method: CorrelationMethod
    columns: list[str]
    values: list[list[float | None]]


@described("A set of columns that are missing together in `count` rows")
@from_model.type(model=stored.MissingPattern, all_fields=True)
class MissingPattern:
    """The stored pattern as it is (services.profiling.stored.MissingPattern)."""


@strawberry.type
class Alert:
    kind: AlertKind
    column: str | None
    columns: list[str] | None
    message: str
    value: float | None


@described(gaps="Steps longer than 1.5x the usual step")
@from_model.type(model=stored.TimeSeriesHint, all_fields=True)
class TimeSeriesHint:
    """The stored hint as it is (services.profiling.stored.TimeSeriesHint)."""


@strawberry.type
class ColumnProfile:
    name: str
    semantic_type: SemanticType
    dtype: str
    count: int = strawberry.field(description="Non-null values")
    null_count: int
    null_ratio: float
    distinct_count: int
    is_unique: bool
    numeric: NumericStats | None
    datetime: DatetimeStats | None
    text: TextStats | None
    histogram: Histogram | None
    top: strawberry.Private[list[stored.ValueCount]]

    @strawberry.field(
        description="The most frequent values, most frequent first (`limit` 0-50)", extensions=[ServiceErrors()]
    )
    def top_values(self, limit: int | None = 10) -> list[ValueCount]:
        return [
            ValueCount(value=v.value, count=v.count, ratio=v.ratio)
            for v in self.top[: checked_count(limit, name="limit", default=10, most=50)]
        ]

    @classmethod
    def from_stored(cls, data: stored.ColumnProfile) -> ColumnProfile:
        when, text, histogram = data.datetime, data.text, data.histogram
        return cls(
            **fields_of(
                cls,
                data,
                numeric=NumericStats.from_pydantic(data.numeric) if data.numeric else None,
                datetime=DatetimeStats(**fields_of(DatetimeStats, when, min=_when(when.min), max=_when(when.max)))
                if when
                else None,
                text=TextStats.from_pydantic(text) if text else None,
                histogram=Histogram.from_pydantic(histogram) if histogram else None,
                top=data.top_values,
            )
        )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.type(description="A stored profile of one dataset version (run `profileDataset` to make or refresh it).")
class Profile:
    row_count: int
    column_count: int
    missing_cells: int
    missing_cells_ratio: float
    duplicate_rows: int
    memory_bytes: float = strawberry.field(description="Size of the table in memory (Arrow buffers)")
    generated_at: datetime
    duration_ms: float
    sampling: JSON = strawberry.field(
        description="What was computed on a sample, and how many rows it had "
        "(`approximations` says the same, typed, per figure)"
    )
    data: strawberry.Private[stored.StoredProfile]

    @strawberry.field(
        description="Every figure that is approximate or sampled (at the job's memory budget), with "
        "its method and error bound; empty when the whole profile is exact"
    )
    def approximations(self) -> list[ApproximateFigure]:
        return [ApproximateFigure(**fields_of(ApproximateFigure, a)) for a in self.data.sampling.approximations]

    @classmethod
    def from_stored(cls, data: stored.StoredProfile) -> Profile:
        return cls(
            **fields_of(
                cls,
                data,
                generated_at=datetime.fromisoformat(data.generated_at),
                sampling=JSON(data.sampling.as_stored()),
                data=data,
            )
        )

    @strawberry.field
    def columns(self) -> list[ColumnProfile]:
        return [ColumnProfile.from_stored(column) for column in self.data.columns]

    @strawberry.field
    def column(self, name: str) -> ColumnProfile | None:
        match = next((c for c in self.data.columns if c.name == name), None)
        return ColumnProfile.from_stored(match) if match else None

    @strawberry.field(
        description="PEARSON, SPEARMAN and KENDALL over numeric columns; CRAMERS_V (bias-corrected) "
        "over categorical and boolean ones, on every row up to 100,000 rows, else on a "
        "seeded sample of 100,000; Kendall on a seeded sample of 5,000 of those rows."
    )
    def correlations(self, method: CorrelationMethod | None = CorrelationMethod.PEARSON) -> CorrelationMatrix:
        method = method or CorrelationMethod.PEARSON
        correlations = self.data.correlations
        values = correlations.values.get(method.value)
        return CorrelationMatrix(
            method=method, columns=correlations.columns[method.value] if values else [], values=values or []
        )

    @strawberry.field(
        description="The most frequent sets of columns missing together (`limit` 0-50)", extensions=[ServiceErrors()]
    )
    def missing_patterns(self, limit: int | None = 10) -> list[MissingPattern]:
        limit = checked_count(limit, name="limit", default=10, most=50)
        return [MissingPattern.from_pydantic(p) for p in self.data.missing_patterns[:limit]]

    @strawberry.field
    def alerts(self) -> list[Alert]:
        return [Alert(**fields_of(Alert, a)) for a in self.data.alerts]

    @strawberry.field(description="Set when a datetime column is monotonic in row order")
    def time_series(self) -> TimeSeriesHint | None:
        hint = self.data.time_series
        return TimeSeriesHint.from_pydantic(hint) if hint else None


@strawberry.type(description="A PNG drawn by the profile job; `url` is signed and expires, like download links.")
class Plot:
    kind: PlotKind
    column: str | None
    url: str


@strawberry.input
class ProfileDatasetInput:
    dataset_id: strawberry.ID
    plots: bool = strawberry.field(default=True, description="Also draw the PNG plots")
    bins: int | None = strawberry.field(default=None, description="Histogram bins (1-100); Freedman–Diaconis if absent")
    priority: JobPriority = priority_input()
