"""Data checks a pipeline's output must pass before it is stored: per column (not null, unique, a range,
a pattern, allowed values, a semantic type) and per table (row counts). Each check says what a failure
does: fail the run (nothing is stored), drop the failing rows, or only warn in the log.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from services.errors import ErrorCode, ServiceError, invalid
from services.pipelines.config.checks import COLUMN_RULES, TABLE_RULES, PipelineCheck
from services.values import json_value

EXAMPLES = 5


def run_checks(table: pa.Table, checks: list[PipelineCheck], semantic_types: dict[str, str],
               log: Callable[[str, str], None], *, suites: dict[str, dict[str, Any]] | None = None,
               data_dir: Path | None = None, memory_mb: int = 2048, scratch_dir: Path | None = None
               ) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The table with DROP_ROWS failures removed, and every rule's result. `suites`: the saved suites the
    checks name by `suite_id` (services.checks.service.pipeline_suites), each evaluated whole.

    All checks are evaluated before a FAIL_RUN failure is raised, so the results (carried by the
    error) show every problem at once, not the first.
    """
    results: list[dict[str, Any]] = []
    dropped = np.zeros(table.num_rows, dtype=bool)
    for check in checks:
        action, column = check.on_fail, check.column
        if check.suite_id is not None:
            results.extend(_suite_results(table, (suites or {})[check.suite_id], action, semantic_types, log,
                                          data_dir=data_dir, memory_mb=memory_mb, scratch_dir=scratch_dir))
            continue
        for rule in check.rules:
            setting = getattr(check, rule)
            if rule in COLUMN_RULES and column not in table.column_names:
                result = _result(column, "column_exists", "the column exists", table.num_rows, [], action)
                result["on_fail"] = "WARN" if action == "WARN" else "FAIL_RUN"  # no rows to drop: it fails the run
            elif rule in TABLE_RULES:
                bound = setting
                failed = table.num_rows < bound if rule == "min_rows" else table.num_rows > bound
                result = _result(None, rule, f"{'at least' if rule == 'min_rows' else 'at most'} {bound:,} rows",
                                 0, [table.num_rows] if failed else [], action, passed=not failed)
            elif rule == "max_null_ratio":
                missing = pc.sum(pc.is_null(table.column(column), nan_is_null=True)).as_py() or 0
                ratio = missing / table.num_rows if table.num_rows else 0.0
                result = _result(column, rule, f"at most {setting:.2%} missing", 0,
                                 [round(ratio, 6)] if ratio > setting else [], action, passed=ratio <= setting)
            elif rule == "semantic_type":
                found = semantic_types.get(column) if column is not None else None
                result = _result(column, rule, f"a {setting} column", 0, [found] if found != setting else [],
                                 action, passed=found == setting)
            else:
                values = table.column(column)
                failing = _failing_rows(values, rule, setting, column)
                examples = _examples(values, failing)
                result = _result(column, rule, _expected(rule, setting), int(failing.sum()), examples, action)
                if action == "DROP_ROWS":
                    dropped |= failing
            results.append(result)
            _log(result, log)
    failed = [r for r in results if not r["passed"] and r["on_fail"] == "FAIL_RUN"]
    if failed:
        raise ServiceError(ErrorCode.INVALID_INPUT, f"{len(failed)} check(s) failed, so nothing was stored: " + "; ".join(
            _describe(r) for r in failed), details={"checks": results})
    if dropped.any():
        table = table.filter(pa.array(~dropped))
        log(f"Dropped {int(dropped.sum()):,} row(s) failing DROP_ROWS checks; {table.num_rows:,} remain", "WARNING")
    return table, results


def _suite_results(table: pa.Table, suite: dict[str, Any], action: str, semantic_types: dict[str, str],
                   log: Callable[[str, str], None], *, data_dir: Path | None, memory_mb: int,
                   scratch_dir: Path | None) -> list[dict[str, Any]]:
    """A saved suite's checks on the run's output, in DuckDB (the table is scanned in place); its failures
    do what the pipeline's entry for the suite says (`action`)."""
    from services import dataplane, files
    from services.checks.evaluate import Reference, evaluate_checks
    checks = [PipelineCheck.model_validate(check) for check in suite["checks"]]
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        connection.register("run_output", table)
        reference = None
        if suite["reference_id"] and data_dir is not None:
            reference = Reference(dataplane.parquet_source(files.parquet_path(data_dir, suite["reference_id"])),
                                  suite["reference_types"])
        found = evaluate_checks(connection, "run_output", checks, semantic_types=semantic_types, reference=reference)
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


def _result(column: str | None, rule: str, expected: str, failing_rows: int, examples: list[Any], action: str,
            *, passed: bool | None = None) -> dict[str, Any]:
    return {"column": column, "rule": rule, "expected": expected, "failing_rows": failing_rows, "examples": examples,
            "on_fail": action, "passed": failing_rows == 0 if passed is None else passed}


def _failing_rows(values: pa.ChunkedArray, rule: str, setting: Any, column: str | None) -> npt.NDArray[np.bool_]:
    """A boolean per row: does this value break the rule? Nulls break only `not_null`."""
    if rule == "not_null":
        mask = pc.is_null(values, nan_is_null=True)
    elif rule == "unique":
        series = values.to_pandas()
        return np.asarray((series.duplicated(keep="first") & series.notna()).to_numpy(dtype=bool), dtype=np.bool_)
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


def _examples(values: pa.ChunkedArray, failing: npt.NDArray[np.bool_]) -> list[Any]:
    """Up to five distinct failing values, as JSON takes them (missing values show nothing)."""
    if not failing.any():
        return []
    picked = pc.drop_null(values.filter(pa.array(failing)))
    examples: list[Any] = []
    for value in picked.slice(0, 200).to_pylist():
        value = json_value(value)
        if value is not None and value not in examples:  # (NaN shows as None)
            examples.append(value)
        if len(examples) == EXAMPLES:
            break
    return examples


def _expected(rule: str, setting: Any) -> str:
    described: dict[str, Callable[[], str]] = {
        "not_null": lambda: "no missing values", "unique": lambda: "no repeated values",
        "min": lambda: f">= {setting:g}", "max": lambda: f"<= {setting:g}",
        "pattern": lambda: f"matches {setting}", "allowed_values": lambda: "one of " + ", ".join(setting)}
    return described[rule]()


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
