"""What a comparison stores: one typed model written by the COMPARE job and read back by the schema."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ColumnKind(StrEnum):
    NUMERIC = "NUMERIC"  # numbers (and dates/times, as seconds since the epoch): moments and quantiles
    CATEGORICAL = "CATEGORICAL"  # everything else: top categories


class CategoryCount(BaseModel):
    value: str | None
    count: int
    ratio: float  # of the side's non-null values


class SideStatistics(BaseModel):
    """One column on one side. Counts, nulls, mean, std, min and max are exact over every row; quantiles are
    exact unless `Sampling.quantiles_exact` is false; distinct counts unless `distinct_exact` is false; top
    categories are exact."""

    rows: int
    count: int  # non-null values
    nulls: int
    null_ratio: float
    distinct: int | None = None
    distinct_exact: bool = True  # false: a HyperLogLog estimate (numbers with over 1,000 distinct values)
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    p5: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    p95: float | None = None
    max: float | None = None
    top: list[CategoryCount] = Field(default_factory=list)


class DriftResult(BaseModel):
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    score: float | None  # what was compared with the threshold: the p-value of a test, else the distance
    drifted: bool
    reference_count: int  # values the test saw on each side (the sample, when sampled)
    current_count: int
    chosen_by: str  # DEFAULT (by column type and size) or USER


class ColumnComparison(BaseModel):
    name: str
    kind: ColumnKind
    reference_dtype: str
    current_dtype: str
    reference: SideStatistics
    current: SideStatistics
    drift: DriftResult | None = None
    note: str | None = None  # why a column was not tested
    plot: str | None = None  # the overlay PNG's file name


class ColumnType(BaseModel):
    name: str
    dtype: str
    semantic_type: str


class TypeChange(BaseModel):
    name: str
    reference_dtype: str
    current_dtype: str
    reference_semantic_type: str
    current_semantic_type: str


class SchemaDifference(BaseModel):
    added: list[ColumnType] = Field(default_factory=list)  # in the current version only
    dropped: list[ColumnType] = Field(default_factory=list)  # in the reference only
    type_changed: list[TypeChange] = Field(default_factory=list)


class Sampling(BaseModel):
    sample_rows: int  # ASSAY_COMPARISON_SAMPLE_ROWS: the most rows a drift test sees per side
    sampled: bool  # whether either side had more rows than that
    reference_rows: int
    current_rows: int
    reference_test_rows: int  # rows the drift tests read from each side
    current_test_rows: int
    method: str  # ALL_ROWS, or RESERVOIR (a seeded reservoir sample of rows)
    seed: int
    quantiles_exact: bool  # false when the values would not fit the job's memory: T-Digest (1% rank error)


class ComparisonResult(BaseModel):
    columns: list[ColumnComparison]
    schema_difference: SchemaDifference
    drift_share: float  # drifted / tested columns
    drifted_columns: list[str]
    tested_columns: int
    share_threshold: float  # the dataset drifts when drift_share >= this (Evidently's default 0.5)
    dataset_drift: bool
    sampling: Sampling
    duration_ms: float
