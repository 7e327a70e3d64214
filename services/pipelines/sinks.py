"""Where a pipeline's output goes: a dataset version, versioned Parquet files, or a per-user SQLite table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane, files
from services.errors import invalid
from services.ingest.parquet import ParquetBatchWriter, write_parquet
from services.values import json_rows, json_value


def parquet_dir(data_dir: Path, pipeline_id: str) -> Path:
    return data_dir / "pipelines" / pipeline_id / "parquet"


def sqlite_path(data_dir: Path, owner_id: str) -> Path:
    return data_dir / "users" / owner_id / "pipelines.sqlite"


Rows: TypeAlias = (
    "pa.Table | Path"  # the run's output: in memory, or a Parquet file in scratch (beyond the job's budget)
)
BATCH_ROWS = 65_536


def schema_of(rows: Rows) -> pa.Schema:
    return rows.schema if isinstance(rows, pa.Table) else pq.ParquetFile(rows).schema_arrow


def batches_of(rows: Rows, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows a batch at a time: a file is never read whole."""
    if isinstance(rows, pa.Table):
        yield from (rows.select(columns) if columns is not None else rows).to_batches(max_chunksize=BATCH_ROWS)
    else:
        yield from dataplane.batches(pq.ParquetFile(rows), batch_rows=BATCH_ROWS, columns=columns)


def write_parquet_version(data_dir: Path, pipeline_id: str, table: Rows) -> tuple[int, Path]:
    """Version n+1, written atomically; earlier versions stay readable."""
    folder = parquet_dir(data_dir, pipeline_id)
    folder.mkdir(parents=True, exist_ok=True)
    versions = [int(p.stem[1:]) for p in folder.glob("v*.parquet") if p.stem[1:].isdigit()]
    version = max(versions, default=0) + 1
    target = folder / f"v{version}.parquet"
    with files.atomic_output(target) as temporary:
        if isinstance(table, pa.Table):
            pq.write_table(table, temporary, compression="zstd")
        else:
            with pq.ParquetWriter(temporary, schema_of(table), compression="zstd") as writer:
                for batch in batches_of(table):
                    writer.write_batch(batch)
    return version, target


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type) or pa.types.is_integer(arrow_type):
        return "INTEGER"
    if pa.types.is_floating(arrow_type):
        return "REAL"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "TIMESTAMP"
    return "TEXT"


@dataclass
class SqliteWrite:
    rows_now: int
    inserted: int
    updated: int
    added_columns: list[str]


def write_sqlite(
    data_dir: Path,
    owner_id: str,
    table_name: str,
    table: Rows,
    *,
    mode: str = "replace",
    key: list[str] | None = None,
    indexes: list[list[str]] | None = None,
) -> SqliteWrite:
    """Replace, append to or upsert into a table, in one transaction: a failure leaves it as it was.

    Columns are typed INTEGER, REAL, TIMESTAMP or TEXT from the Arrow types. `key` is the table's
    primary key (created with the table; on an existing table, a unique index); `upsert` updates
    the row with the same key and inserts the rest, the last of several rows with one key winning.
    Columns the table lacks are added; `indexes` are created if missing.
    """
    key, indexes = key or [], indexes or []
    schema = schema_of(table)
    missing = sorted({name for columns in [key, *indexes] for name in columns} - set(schema.names))
    if missing:
        raise invalid(
            f"The output has no column {', '.join(map(repr, missing))} (it has {', '.join(schema.names)})",
            ["sink", "sqlite", "key" if set(missing) & set(key) else "indexes"],
        )
    null_keys = sum(batch.column(name).null_count for batch in batches_of(table, key) for name in key) if key else 0
    if null_keys:
        raise invalid(f"{null_keys:,} row(s) have no value in the key {', '.join(key)}", ["sink", "sqlite", "key"])
    path = sqlite_path(data_dir, owner_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = quoted(table_name)
    columns = [(column, sqlite_type(schema.field(column).type)) for column in schema.names]
    connection = sqlite3.connect(path, isolation_level=None)  # transactions by hand: DDL included
    try:
        connection.execute("BEGIN IMMEDIATE")
        if mode == "replace":
            connection.execute(f"DROP TABLE IF EXISTS {name}")
        existing = {row[1] for row in connection.execute(f"PRAGMA table_info({name})")}
        added = []
        if not existing:
            primary = f", PRIMARY KEY ({', '.join(map(quoted, key))})" if key else ""
            connection.execute(f"CREATE TABLE {name} ({', '.join(f'{quoted(c)} {t}' for c, t in columns)}{primary})")
        else:
            for column, kind in columns:
                if column not in existing:
                    connection.execute(f"ALTER TABLE {name} ADD COLUMN {quoted(column)} {kind}")
                    added.append(column)
            if key:  # ON CONFLICT needs a unique index on exactly the key
                connection.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {quoted(f'{table_name}__key')} ON {name} "
                    f"({', '.join(map(quoted, key))})"
                )
        for index in indexes:
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS {quoted('ix_' + table_name + '__' + '__'.join(index))} "
                f"ON {name} ({', '.join(map(quoted, index))})"
            )
        before = connection.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        statement = (
            f"INSERT INTO {name} ({', '.join(quoted(c) for c, _ in columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        if key:
            others = [quoted(c) for c, _ in columns if c not in key]
            statement += f" ON CONFLICT ({', '.join(map(quoted, key))}) DO " + (
                f"UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}" if others else "NOTHING"
            )
        written = 0
        for batch in batches_of(table):  # a batch at a time, in the one transaction
            connection.executemany(statement, _sqlite_rows(batch))
            written += batch.num_rows
        rows_now = connection.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        connection.execute("COMMIT")
    except BaseException as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise invalid(f"SQLite refused the write to {table_name}: {exc}", ["sink", "sqlite"]) from exc
        raise
    finally:
        connection.close()
    inserted = rows_now - before
    return SqliteWrite(rows_now=rows_now, inserted=inserted, updated=written - inserted, added_columns=added)


def _sqlite_rows(table: pa.Table | pa.RecordBatch) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples SQLite takes: timestamps as "YYYY-MM-DD HH:MM:SS" text (what pandas wrote), booleans 0/1."""
    columns: list[list[Any]] = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        elif not (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_string(column.type)
            or pa.types.is_large_string(column.type)
        ):
            column = column.cast(pa.string())
        columns.append(column.to_pylist())
    return zip(*columns, strict=True)


def write_dataset_version(data_dir: Path, dataset_id: str, table: Rows) -> None:
    if isinstance(table, Path) and pq.ParquetFile(table).metadata.num_rows == 0:
        table = pq.read_table(table)  # no batches to write: the empty table carries the columns
    with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
        if isinstance(table, pa.Table):
            write_parquet(table, temporary)
        else:
            with ParquetBatchWriter(temporary) as writer:
                for batch in batches_of(table):
                    writer.add(batch)


def read_output(
    data_dir: Path, owner_id: str, output: dict[str, Any], *, offset: int, limit: int
) -> tuple[list[str], list[list[Any]], int]:
    """A page of the latest output, wherever the sink put it."""
    from services.datasets.service import read_rows

    kind = output.get("kind")
    if kind == "dataset":
        return read_rows(data_dir, output["dataset_id"], offset=offset, limit=limit)
    if kind == "parquet":
        table = pq.read_table(output["path"])
        return table.column_names, json_rows(table.slice(offset, limit)), table.num_rows
    if kind == "sqlite":
        with sqlite3.connect(files.fetched(sqlite_path(data_dir, owner_id))) as connection:
            cursor = connection.execute(f"SELECT * FROM {quoted(output['table'])} LIMIT ? OFFSET ?", (limit, offset))
            names = [d[0] for d in cursor.description]
            rows = [[json_value(v) for v in row] for row in cursor.fetchall()]
            total = connection.execute(f"SELECT COUNT(*) FROM {quoted(output['table'])}").fetchone()[0]
        return names, rows, total
    return [], [], 0
