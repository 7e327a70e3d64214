"""Where a pipeline's output goes: a dataset version, versioned Parquet files, or a per-user SQLite table."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.ingest.parquet import write_parquet
from services.errors import invalid

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SQLITE_TYPES = {"int": "INTEGER", "float": "REAL", "bool": "INTEGER", "datetime": "TIMESTAMP"}


def parquet_dir(data_dir: Path, pipeline_id: str) -> Path:
    return data_dir / "pipelines" / pipeline_id / "parquet"


def sqlite_path(data_dir: Path, owner_id: str) -> Path:
    return data_dir / "users" / owner_id / "pipelines.sqlite"


def check_sink(sink: dict[str, Any]) -> None:
    kind, spec = next(iter(sink.items()))
    if kind == "sqlite":
        if not TABLE_NAME.match(spec.get("table") or ""):
            raise invalid("`table` must be a plain identifier (letters, digits, _)", ["sink", "sqlite", "table"])
        if (spec.get("mode") or "replace") not in ("replace", "append"):
            raise invalid("`mode` is replace or append", ["sink", "sqlite", "mode"])
    elif not (spec.get("name") or "").strip():
        raise invalid("`name` cannot be blank", ["sink", kind, "name"])


def write_parquet_version(data_dir: Path, pipeline_id: str, table: pa.Table) -> tuple[int, Path]:
    """Version n+1, written atomically; earlier versions stay readable."""
    folder = parquet_dir(data_dir, pipeline_id)
    folder.mkdir(parents=True, exist_ok=True)
    versions = [int(p.stem[1:]) for p in folder.glob("v*.parquet") if p.stem[1:].isdigit()]
    version = max(versions, default=0) + 1
    target = folder / f"v{version}.parquet"
    with files.atomic_output(target) as temporary:
        pq.write_table(table, temporary, compression="zstd")
    return version, target


def write_sqlite(data_dir: Path, owner_id: str, table_name: str, mode: str, frame: pd.DataFrame) -> int:
    """Replace or append a table; column types mapped from pandas (INTEGER, REAL, TIMESTAMP, TEXT)."""
    path = sqlite_path(data_dir, owner_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtypes = {}
    for column, dtype in frame.dtypes.items():
        kind = ("bool" if pd.api.types.is_bool_dtype(dtype) else "int" if pd.api.types.is_integer_dtype(dtype) else
                "float" if pd.api.types.is_float_dtype(dtype) else
                "datetime" if pd.api.types.is_datetime64_any_dtype(dtype) else "text")
        dtypes[column] = SQLITE_TYPES.get(kind, "TEXT")
    with sqlite3.connect(path) as connection:
        frame.to_sql(table_name, connection, if_exists="replace" if mode == "replace" else "append", index=False,
                     dtype=dtypes)
        return int(connection.execute(f'SELECT COUNT(*) FROM "{table_name}"').fetchone()[0])


def write_dataset_version(data_dir: Path, dataset_id: str, table: pa.Table) -> None:
    with files.atomic_output(files.parquet_path(data_dir, dataset_id)) as temporary:
        write_parquet(table, temporary)


def read_output(data_dir: Path, owner_id: str, output: dict[str, Any], *, offset: int, limit: int
                ) -> tuple[list[str], list[list[Any]], int]:
    """A page of the latest output, wherever the sink put it."""
    from services.datasets import json_value, read_rows
    kind = output.get("kind")
    if kind == "dataset":
        return read_rows(data_dir, output["dataset_id"], offset=offset, limit=limit)
    if kind == "parquet":
        table = pq.read_table(output["path"])
        page = table.slice(offset, limit)
        rows = [[json_value(v) for v in row.values()] for row in page.to_pylist()]
        return table.column_names, rows, table.num_rows
    if kind == "sqlite":
        with sqlite3.connect(sqlite_path(data_dir, owner_id)) as connection:
            cursor = connection.execute(f'SELECT * FROM "{output["table"]}" LIMIT ? OFFSET ?', (limit, offset))
            names = [d[0] for d in cursor.description]
            rows = [[json_value(v) for v in row] for row in cursor.fetchall()]
            total = connection.execute(f'SELECT COUNT(*) FROM "{output["table"]}"').fetchone()[0]
        return names, rows, total
    return [], [], 0
