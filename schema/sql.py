"""Types of `query(sql)`: read-only SQL over the caller's datasets."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from schema.common import to_global_id
from services.datasets.sql import QueryResult


@strawberry.type(
    description="A table a query may name: a dataset, by its name (the newest version of a name) "
    'or by its id (the ID the API gives). Quote names that are not plain identifiers: "sales 2024.csv".'
)
class QueryTable:
    name: str
    dataset_id: strawberry.ID


@strawberry.type
class QueryColumn:
    name: str
    type: str = strawberry.field(description="DuckDB's type of the column, e.g. BIGINT, DOUBLE, VARCHAR")


@strawberry.type(description="The answer of one read-only SELECT")
class SqlResult:
    columns: list[QueryColumn]
    rows: list[list[JSON | None]] = strawberry.field(description="Row-major; NaN as null, dates ISO strings")
    truncated: bool = strawberry.field(description="More rows matched than `limit` (or the server's cap) allowed")
    tables: list[QueryTable] = strawberry.field(description="The tables this query could name")
    elapsed_ms: float

    @classmethod
    def from_result(cls, result: QueryResult) -> SqlResult:
        return cls(
            columns=[QueryColumn(name=c.name, type=c.type) for c in result.columns],
            rows=result.rows,
            truncated=result.truncated,
            elapsed_ms=result.elapsed_ms,
            tables=[
                QueryTable(name=t.name, dataset_id=strawberry.ID(to_global_id("Dataset", t.dataset_id)))
                for t in result.tables
            ],
        )
