"""Chart types: chart-ready points computed on demand from the dataset."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON


@strawberry.enum
class ChartType(Enum):
    SCATTER = "SCATTER"
    LINE = "LINE"
    BAR = "BAR"
    PIE = "PIE"
    HISTOGRAM = "HISTOGRAM"


@strawberry.enum
class Aggregate(Enum):
    COUNT = "COUNT"
    SUM = "SUM"
    MEAN = "MEAN"
    MEDIAN = "MEDIAN"
    MIN = "MIN"
    MAX = "MAX"


@strawberry.input
class ChartInput:
    type: ChartType
    x: str
    y: str | None = strawberry.field(default=None, description="Not needed for PIE and HISTOGRAM")
    group_by: str | None = None
    aggregate: Aggregate | None = strawberry.field(default=Aggregate.COUNT, description="For BAR and PIE")
    bins: int | None = strawberry.field(default=20, description="For HISTOGRAM (1-100)")
    limit: int | None = strawberry.field(
        default=1000,
        description="Most points returned (1-10000): SCATTER is sampled with a fixed seed, "
        "LINE down-sampled with LTTB (per group)",
    )
    top: int | None = strawberry.field(
        default=20, description='BAR and PIE keep the top levels (1-100) and fold the rest into "Other"'
    )


@strawberry.type
class ChartPoint:
    x: JSON | None
    y: float | None
    x2: JSON | None = strawberry.field(description="A histogram bin's right edge")
    group: str | None


@strawberry.type
class Chart:
    type: ChartType
    x: str
    y: str | None
    points: list[ChartPoint]
    total_rows: int
    sampled: bool = strawberry.field(description="True when points were sampled, down-sampled or folded into Other")
