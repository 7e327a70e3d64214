"""Read-only SQL over a user's own datasets (seed 004's "SQL query support"), in a sandboxed DuckDB.

Each READY dataset of the caller is a view over its Parquet copy, named by the dataset's name (the newest
version wins a shared name) and by its id. The sandbox is DuckDB's own: file access is switched off except
for exactly those Parquet files (`allowed_paths`), extensions cannot load, and the configuration is locked,
so a query cannot read other files, write, attach databases or load extensions whatever its text. On top,
only a single SELECT statement is accepted, it runs under the memory budget and a time limit (interrupted
when it expires), and at most `max_rows` rows come back.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files, values
from services.dataplane import connect, over_budget
from services.datasets import DatasetStatus
from services.errors import ErrorCode, ServiceError, invalid
from services.storage.tables import Dataset

MAX_SQL_CHARS = 20_000
# What one answer's values may weigh: `max_rows` alone does not bound it (10,000 rows of a 1 MB string are 10 GB in
# the server's memory, then in its JSON). Rows are fetched a few at a time and weighed as they come.
MAX_RESULT_MB = 64
FETCH_ROWS = 100  # the most fetched at once; fewer while rows are heavy, so a batch never overshoots by much


@dataclass(frozen=True)
class QueryTable:
    name: str
    dataset_id: str


@dataclass(frozen=True)
class QueryColumn:
    name: str
    type: str


@dataclass(frozen=True)
class QueryResult:
    columns: list[QueryColumn]
    rows: list[list[Any]]
    truncated: bool  # more rows matched than were returned
    tables: list[QueryTable]  # what the query could name
    elapsed_ms: float


@dataclass(frozen=True)
class QueryLimits:
    max_rows: int
    timeout_seconds: float
    memory_mb: int


async def queryable_datasets(session: AsyncSession, *, owner_id: str) -> list[Dataset]:
    """The owner's READY datasets, newest first (so the newest version of a name gets the plain name)."""
    rows = await session.exec(
        select(Dataset)
        .where(col(Dataset.owner_id) == owner_id, col(Dataset.status) == DatasetStatus.READY)
        .order_by(col(Dataset.created_at).desc())
    )
    return list(rows.all())


def table_names(datasets: list[Dataset], id_alias: Callable[[str], str] = str) -> list[QueryTable]:
    """Each dataset by name (newest first wins; DuckDB's names are case-insensitive) and by `id_alias(id)`:
    the id as the caller knows it (the API passes its global ids). An id wins over a name spelled like it, which
    would otherwise be a second view of that name and fail every query."""
    tables, taken = [], {id_alias(dataset.id).lower() for dataset in datasets}
    for dataset in datasets:
        if dataset.name.lower() not in taken:
            taken.add(dataset.name.lower())
            tables.append(QueryTable(dataset.name, dataset.id))
        tables.append(QueryTable(id_alias(dataset.id), dataset.id))
    return tables


def run_query(
    *,
    sql: str,
    datasets: list[Dataset],
    data_dir: Path,
    limits: QueryLimits,
    scratch_root: Path | None = None,
    id_alias: Callable[[str], str] = str,
) -> QueryResult:
    """Run one read-only SELECT; blocking, so callers run it off the event loop."""
    sql = sql.strip().rstrip(";").strip()
    if not sql:
        raise invalid("`sql` is empty", ["sql"])
    if len(sql) > MAX_SQL_CHARS:
        raise invalid(f"`sql` is longer than {MAX_SQL_CHARS:,} characters", ["sql"])
    tables = table_names(datasets, id_alias)
    started = time.perf_counter()
    # Its own spill dir, always: DuckDB names its temp files alike in every connection, and lets a query read its
    # temp dir (the default, ./.tmp, would be shared with every other connection of the process).
    scratch_dir = (scratch_root or Path(tempfile.gettempdir())) / f"sql-{uuid.uuid4().hex}"
    connection = _sandbox(tables, data_dir, limits.memory_mb, scratch_dir)
    try:
        statements = _parse(connection, sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise invalid("Only one read-only SELECT (or WITH ... SELECT) statement is allowed", ["sql"])
        timer = threading.Timer(limits.timeout_seconds, connection.interrupt)
        timer.start()
        try:
            cursor = connection.execute(sql)
            columns = [QueryColumn(name, str(kind)) for name, kind, *_ in cursor.description]
            fetched = _fetch(cursor, limits.max_rows + 1)
        except duckdb.InterruptException:
            raise ServiceError(
                ErrorCode.INVALID_INPUT,
                f"The query ran longer than {limits.timeout_seconds:g} s and was stopped",
                ["sql"],
            ) from None
        except duckdb.OutOfMemoryException as exc:
            raise over_budget(
                limits.memory_mb, "The query", exc, setting="ASSAY_SQL_MEMORY_MB", field=["sql"]
            ) from None
        except duckdb.PermissionException as exc:
            raise ServiceError(ErrorCode.FORBIDDEN, f"Not allowed in a query: {_first_line(exc)}", ["sql"]) from None
        except duckdb.Error as exc:
            raise invalid(_first_line(exc), ["sql"]) from None
        finally:
            timer.cancel()
    finally:
        connection.close()
        shutil.rmtree(scratch_dir, ignore_errors=True)
    rows = [[values.json_value(cell) for cell in row] for row in fetched[: limits.max_rows]]
    return QueryResult(
        columns=columns,
        rows=rows,
        truncated=len(fetched) > limits.max_rows,
        tables=tables,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _sandbox(tables: list[QueryTable], data_dir: Path, memory_mb: int, scratch_dir: Path) -> duckdb.DuckDBPyConnection:
    connection = connect(memory_mb=memory_mb, scratch_dir=scratch_dir, threads=2)
    # A user's ORDER BY must hold in what comes back: with insertion order off, DuckDB 2.0.1 was seen to
    # return ordered results out of order through execute() (issue 25's engine notes).
    connection.execute("SET preserve_insertion_order = true")
    paths = sorted({str(files.fetched(files.parquet_path(data_dir, table.dataset_id))) for table in tables})
    for table in tables:
        path = str(files.parquet_path(data_dir, table.dataset_id)).replace("'", "''")
        connection.execute(f"CREATE VIEW {_identifier(table.name)} AS SELECT * FROM read_parquet('{path}')")  # noqa: S608 — name quoted, path ours
    connection.execute("SET allowed_paths = ?", [paths or [""]])
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


def _fetch(cursor: duckdb.DuckDBPyConnection, most: int) -> list[Any]:
    """Up to `most` rows; PAYLOAD_TOO_LARGE as soon as their values pass MAX_RESULT_MB. The first row comes
    alone; each next batch is as many rows as the room left holds at the weight seen so far (at most FETCH_ROWS)."""
    fetched: list[Any] = []
    size, room, step = 0, MAX_RESULT_MB * 2**20, 1
    while len(fetched) < most and (batch := cursor.fetchmany(min(step, most - len(fetched)))):
        size += sum(_weight(cell) for row in batch for cell in row)
        if size > room:
            raise ServiceError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"The result is larger than {MAX_RESULT_MB} MB: select fewer rows, fewer columns or shorter values",
                ["sql"],
            )
        fetched += batch
        step = max(1, min(FETCH_ROWS, (room - size) * len(fetched) // max(size, 1)))
    return fetched


def _weight(value: Any) -> int:
    """About what a value weighs in memory and in JSON: text and bytes by their length, lists, maps and structs by
    their parts, anything else as a number."""
    if isinstance(value, (str, bytes)):
        return len(value) + 8
    if isinstance(value, (list, tuple)):
        return 8 + sum(_weight(item) for item in value)
    if isinstance(value, dict):
        return 8 + sum(_weight(key) + _weight(item) for key, item in value.items())
    return 16


def _parse(connection: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    try:
        return connection.extract_statements(sql)
    except duckdb.Error as exc:
        raise ServiceError(ErrorCode.PARSE_ERROR, _first_line(exc), ["sql"]) from None


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: Exception) -> str:
    """DuckDB's message with its position ("LINE 1: ...") but not the long hints after it."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])[:500]
