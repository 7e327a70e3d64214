"""Steps that read across rows in order (forward / backward fill, interpolation) on a table beyond memory:
DuckDB's window functions over the row order, which sort and spill to the scratch dir beyond the budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services import dataplane


def ordered_fill(
    source: Path, target: Path, params: dict[str, Any], *, memory_mb: int, scratch_dir: Path | None
) -> None:
    """FFILL, BFILL or INTERPOLATE of `params["columns"]` as `Impute.apply` does it on a whole frame — rows
    ordered by `order_by` (stable, nulls last) or as stored, linear interpolation over positions, filling
    both ends — computed by DuckDB's window functions, which sort and spill beyond the budget. The output
    keeps the source's row order."""
    strategy, columns, order = params["strategy"], list(params["columns"]), params.get("order_by")
    dataplane.require_row_numbers(source, f"Filling with {strategy} in row order")
    position = f"{_quoted(order)} NULLS LAST, file_row_number" if order else "file_row_number"
    before = "(ORDER BY __pos ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    after = "(ORDER BY __pos ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)"
    replaced = []
    for column in columns:
        name = _quoted(column)
        if strategy == "FFILL":
            replaced.append(f"last_value({name} IGNORE NULLS) OVER {before} AS {name}")
        elif strategy == "BFILL":
            replaced.append(f"first_value({name} IGNORE NULLS) OVER {after} AS {name}")
        else:
            value = f"TRY_CAST({name} AS DOUBLE)"
            if_known = f"CASE WHEN isnan({value}) THEN NULL ELSE {value} END"
            known_at = f"CASE WHEN {if_known} IS NOT NULL THEN __pos END"
            prev_v, prev_p = (
                f"last_value({if_known} IGNORE NULLS) OVER {before}",
                f"last_value({known_at} IGNORE NULLS) OVER {before}",
            )
            next_v, next_p = (
                f"first_value({if_known} IGNORE NULLS) OVER {after}",
                f"first_value({known_at} IGNORE NULLS) OVER {after}",
            )
            replaced.append(
                f"CASE WHEN {if_known} IS NOT NULL THEN {if_known} WHEN {prev_v} IS NULL THEN {next_v} "
                f"WHEN {next_v} IS NULL THEN {prev_v} ELSE {prev_v} + ({next_v} - {prev_v}) * "
                f"(__pos - {prev_p}) / ({next_p} - {prev_p}) END AS {name}"
            )
    query = (
        f"SELECT * EXCLUDE (file_row_number, __pos) REPLACE ({', '.join(replaced)}) FROM ("  # noqa: S608 — names via _quoted, path via _literal
        f"SELECT *, row_number() OVER (ORDER BY {position}) AS __pos "
        f"FROM read_parquet({_literal(source)}, file_row_number = true)) ORDER BY file_row_number"
    )
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        connection.execute("SET preserve_insertion_order = true")  # the ORDER BY must hold in the written file
        connection.execute(f"COPY ({query}) TO {_literal(target)} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        connection.close()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
