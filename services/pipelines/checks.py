"""Data checks a pipeline's output must pass before it is stored: per column (not null, unique, a range,
a pattern, allowed values, a semantic type) and per table (row counts). Each check says what a failure
does: fail the run (nothing is stored), drop the failing rows, or only warn in the log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services.errors import ErrorCode, ServiceError, invalid
from services.ingest.parquet import ParquetBatchWriter
from services.pipelines.config.checks import COLUMN_RULES, TABLE_RULES, PipelineCheck, expected
from services.values import json_value

EXAMPLES = 5


Rows: TypeAlias = (
    "pa.Table | Path"  # the run's output: a table in memory, or a Parquet file read batch by batch (beyond the budget)
)
BATCH_ROWS = 65_536


def run_checks(
    rows: Rows,
    checks: list[PipelineCheck],
    semantic_types: dict[str, str],
    log: Callable[[str, str], None],
    *,
    suites: dict[str, dict[str, Any]] | None = None,
    data_dir: Path | None = None,
    memory_mb: int = 2048,
    scratch_dir: Path | None = None,
) -> tuple[Rows, list[dict[str, Any]]]:
    """The rows with DROP_ROWS failures removed (a table, or a Parquet file in `scratch_dir`), and every
    rule's result. `suites`: the saved suites the checks name by `suite_id`
    (services.checks.service.pipeline_suites), each evaluated whole.

    A file is never read whole: row rules run batch by batch, `unique` and the suites in DuckDB (spilling),
    and only a flag per row (a byte) is held for the rows to drop.

    All checks are evaluated before a FAIL_RUN failure is raised, so the results (carried by the
    error) show every problem at once, not the first.
    """
    results: list[dict[str, Any]] = []
    names, total = shape_of(rows)
    dropped = np.zeros(total, dtype=bool)
    for check in checks:
        action, column = check.on_fail, check.column
        if check.suite_id is not None:
            results.extend(
                _suite_results(
                    rows,
                    (suites or {})[check.suite_id],
                    action,
                    semantic_types,
                    log,
                    data_dir=data_dir,
                    memory_mb=memory_mb,
                    scratch_dir=scratch_dir,
                )
            )
            continue
        for rule in check.rules:
            setting = getattr(check, rule)
            if rule in COLUMN_RULES and column not in names:
                result = _result(column, "column_exists", "the column exists", total, [], action)
                result["on_fail"] = "WARN" if action == "WARN" else "FAIL_RUN"  # no rows to drop: it fails the run
            elif rule in TABLE_RULES:
                bound = setting
                failed = total < bound if rule == "min_rows" else total > bound
                result = _result(
                    None,
                    rule,
                    expected(rule, bound),
                    0,
                    [total] if failed else [],
                    action,
                    passed=not failed,
                )
            elif rule == "max_null_ratio":
                assert column is not None  # a column rule names its column (checked when the config is read)
                missing = sum(
                    int(pc.sum(pc.is_null(values, nan_is_null=True)).as_py() or 0)
                    for values in _column_batches(rows, column)
                )
                ratio = missing / total if total else 0.0
                result = _result(
                    column,
                    rule,
                    expected(rule, setting),
                    0,
                    [round(ratio, 6)] if ratio > setting else [],
                    action,
                    passed=ratio <= setting,
                )
            elif rule == "semantic_type":
                found = semantic_types.get(column) if column is not None else None
                result = _result(
                    column,
                    rule,
                    expected(rule, setting),
                    0,
                    [found] if found != setting else [],
                    action,
                    passed=found == setting,
                )
            else:
                assert column is not None  # a column rule names its column (checked when the config is read)
                failing = _unique_failures(rows, column, memory_mb, scratch_dir) if rule == "unique" else None
                examples: list[Any] = []
                count, start, looked = 0, 0, 0
                for values in _column_batches(rows, column):
                    end = start + len(values)
                    batch_failing = (
                        failing[start:end] if failing is not None else _failing_rows(values, rule, setting, column)
                    )
                    count += int(batch_failing.sum())
                    looked = _examples(values, batch_failing, examples, looked)
                    if action == "DROP_ROWS":
                        dropped[start:end] |= batch_failing
                    start = end
                result = _result(column, rule, expected(rule, setting), count, examples, action)
            results.append(result)
            _log(result, log)
    failed = [r for r in results if not r["passed"] and r["on_fail"] == "FAIL_RUN"]
    if failed:
        raise ServiceError(
            ErrorCode.INVALID_INPUT,
            f"{len(failed)} check(s) failed, so nothing was stored: " + "; ".join(_describe(r) for r in failed),
            details={"checks": results},
        )
    if dropped.any():
        rows = _without(rows, dropped, scratch_dir)
        log(
            f"Dropped {int(dropped.sum()):,} row(s) failing DROP_ROWS checks; {total - int(dropped.sum()):,} remain",
            "WARNING",
        )
    return rows, results


def shape_of(rows: Rows) -> tuple[list[str], int]:
    if isinstance(rows, pa.Table):
        return rows.column_names, rows.num_rows
    parquet = pq.ParquetFile(rows)
    return parquet.schema_arrow.names, parquet.metadata.num_rows


def _column_batches(rows: Rows, column: str) -> Iterator[pa.Array | pa.ChunkedArray]:
    """One column, whole for a table in memory (as it always was), batch by batch from a file."""
    if isinstance(rows, pa.Table):
        yield rows.column(column)
        return
    from services import dataplane

    for batch in dataplane.batches(pq.ParquetFile(rows), batch_rows=BATCH_ROWS, columns=[column]):
        yield batch.column(0)


def _without(rows: Rows, dropped: npt.NDArray[np.bool_], scratch_dir: Path | None) -> Rows:
    """The rows not flagged: a filtered table, or a new Parquet file in scratch (never beside a dataset's own)."""
    if isinstance(rows, pa.Table):
        return rows.filter(pa.array(~dropped))
    folder = scratch_dir or rows.parent
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{rows.stem}-kept-{uuid.uuid4().hex[:8]}.parquet"
    start = 0
    from services import dataplane

    with ParquetBatchWriter(kept) as writer:
        for batch in dataplane.batches(pq.ParquetFile(rows), batch_rows=BATCH_ROWS):
            end = start + batch.num_rows
            writer.add(batch.filter(pa.array(~dropped[start:end])))
            start = end
    return kept


def _unique_failures(rows: Rows, column: str, memory_mb: int, scratch_dir: Path | None) -> npt.NDArray[np.bool_]:
    """A flag per row: a present value seen in an earlier row. In memory as pandas' `duplicated`; for a file,
    DuckDB numbers each value's rows in file order (sorting and spilling beyond the budget)."""
    if isinstance(rows, pa.Table):
        series = rows.column(column).to_pandas()
        return np.asarray((series.duplicated(keep="first") & series.notna()).to_numpy(dtype=bool), dtype=np.bool_)
    from services import dataplane

    dataplane.require_row_numbers(rows, f"Checking that {column} is unique")
    parquet = pq.ParquetFile(rows)
    kind = parquet.schema_arrow.field(column).type
    quoted = '"' + column.replace('"', '""') + '"'
    present = f"{quoted} IS NOT NULL" + (f" AND NOT isnan({quoted})" if pa.types.is_floating(kind) else "")
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        repeated = connection.execute(
            f"SELECT file_row_number FROM (SELECT file_row_number, row_number() OVER (PARTITION BY {quoted} "  # noqa: S608 — name quoted above, path ours
            f"ORDER BY file_row_number) AS seen FROM {dataplane.parquet_source(rows, row_numbers=True)} "
            f"WHERE {present}) WHERE seen > 1"
        ).fetchnumpy()["file_row_number"]
    except duckdb.OutOfMemoryException as exc:
        raise dataplane.over_budget(memory_mb, f"Checking that {column} is unique", exc) from exc
    finally:
        connection.close()
    failing = np.zeros(parquet.metadata.num_rows, dtype=bool)
    failing[np.asarray(repeated, dtype=np.int64)] = True
    return failing


def _suite_results(
    rows: Rows,
    suite: dict[str, Any],
    action: str,
    semantic_types: dict[str, str],
    log: Callable[[str, str], None],
    *,
    data_dir: Path | None,
    memory_mb: int,
    scratch_dir: Path | None,
) -> list[dict[str, Any]]:
    """A saved suite's checks on the run's output, in DuckDB (the table is scanned in place); its failures
    do what the pipeline's entry for the suite says (`action`)."""
    from services import dataplane, files
    from services.checks.evaluate import Reference, evaluate_checks

    checks = [PipelineCheck.model_validate(check) for check in suite["checks"]]
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        numbered = False
        if isinstance(rows, pa.Table):
            connection.register("run_output", rows)
            source = "run_output"
        else:  # scanned in place
            numbered = dataplane.numbers_rows(rows)
            source = dataplane.parquet_source(rows, row_numbers=numbered)
        reference = None
        if suite["reference_id"] and data_dir is not None:
            reference = Reference(
                dataplane.parquet_source(files.parquet_path(data_dir, suite["reference_id"])), suite["reference_types"]
            )
        found = evaluate_checks(
            connection, source, checks, semantic_types=semantic_types, reference=reference, row_numbers=numbered
        )
    finally:
        connection.close()
    results = []
    for result in found:
        result.on_fail = action
        shown = result.model_dump(mode="json")
        shown["suite"] = suite["name"]
        results.append(shown)
        _log(shown, log)
    return results


def _result(
    column: str | None,
    rule: str,
    expected: str,
    failing_rows: int,
    examples: list[Any],
    action: str,
    *,
    passed: bool | None = None,
) -> dict[str, Any]:
    return {
        "column": column,
        "rule": rule,
        "expected": expected,
        "failing_rows": failing_rows,
        "examples": examples,
        "on_fail": action,
        "passed": failing_rows == 0 if passed is None else passed,
    }


def _failing_rows(values: pa.Array | pa.ChunkedArray, rule: str, setting: Any, column: str) -> np.ndarray:
    """A boolean per row: does this value break the rule? Nulls break only `not_null` (`unique`: see above)."""
    if rule == "not_null":
        mask = pc.is_null(values, nan_is_null=True)
    elif rule in ("min", "max"):
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            raise invalid(f"`{rule}` needs a numeric column; {column} holds {values.type}", ["checks"])
        mask = (pc.less if rule == "min" else pc.greater)(values, setting)
    elif rule == "pattern":
        text = values if pa.types.is_string(values.type) else values.cast(pa.string())
        mask = pc.invert(pc.match_substring_regex(text, pattern=f"^(?:{setting})$"))
    else:  # allowed_values
        text = values if pa.types.is_string(values.type) else values.cast(pa.string())
        mask = pc.invert(pc.is_in(text, value_set=pa.array(setting, pa.string())))
        mask = pc.and_(mask, pc.is_valid(values))
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


def _examples(values: pa.Array | pa.ChunkedArray, failing: np.ndarray, examples: list[Any], looked: int) -> int:
    """Adds up to five distinct failing values to `examples`, as JSON takes them (missing values show nothing),
    from the first 200 failing values over all batches; returns how many were looked at so far."""
    if not failing.any() or looked >= 200 or len(examples) == EXAMPLES:
        return looked
    picked = pc.drop_null(values.filter(pa.array(failing)))
    for value in picked.slice(0, 200 - looked).to_pylist():
        looked += 1
        value = json_value(value)
        if value is not None and value not in examples:  # (NaN shows as None)
            examples.append(value)
        if len(examples) == EXAMPLES:
            break
    return looked


def _describe(result: dict[str, Any]) -> str:
    subject = f"{result['column']}: " if result["column"] else ""
    if result["rule"] == "drift":
        return f"{subject}expected {result['expected']} (found {result.get('observed')})"
    if result["rule"] in ("column_exists", "semantic_type", "min_rows", "max_rows", "max_null_ratio"):
        found = f" (found {result['examples'][0]})" if result["examples"] and result["examples"][0] is not None else ""
        return f"{subject}expected {result['expected']}{found}"
    shown = ", ".join(map(str, result["examples"]))
    return f"{subject}{result['failing_rows']:,} row(s) not {result['expected']} (e.g. {shown})"


def _log(result: dict[str, Any], log: Callable[[str, str], None]) -> None:
    if result["passed"]:
        log(f"Check passed: {result['column'] + ' ' if result['column'] else ''}{result['expected']}", "INFO")
        return
    consequence = {"FAIL_RUN": "the run fails", "DROP_ROWS": "those rows are dropped", "WARN": "warning only"}
    log(f"Check failed: {_describe(result)}; {consequence[result['on_fail']]}", "WARNING")
