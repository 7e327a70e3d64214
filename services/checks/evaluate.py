"""Checks evaluated inside DuckDB, so a table of any size is validated within the job's memory budget:
each rule is one aggregate over one column (DuckDB reads only that column and spills when it must), plus
a bounded look at up to five failing rows. Drift compares bounded random samples of the current column
and of the suite's reference dataset (services.drift does the statistics).

The same evaluation serves a VALIDATE job (over the dataset's Parquet) and a pipeline run's suite (over
the run's output, an Arrow table DuckDB scans in place).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
from pydantic import BaseModel, Field

from services.drift import DriftMethod, drift_test
from services.pipelines.config.checks import COLUMN_RULES, PipelineCheck, expected
from services.values import json_value

if TYPE_CHECKING:
    import pandas as pd

EXAMPLES = 5  # distinct failing values kept per rule
SAMPLE_ROWS = 5  # whole failing rows kept per rule
DRIFT_SAMPLE_ROWS = 50_000  # values drawn from each side of a drift test (all of them when fewer)
DRIFT_SEED = 42
ROW_NUMBER = "file_row_number"  # DuckDB's row position in a Parquet file (dataplane.parquet_source)
FLOATS = ("FLOAT", "DOUBLE", "REAL")
NUMBERS = (
    *FLOATS,
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


class DriftFinding(BaseModel):
    """A drift rule's test as run: what was compared, on how many values, and the verdict's figures."""

    method: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    reference_count: int = Field(description="Values of the reference in the test (a sample when larger)")
    current_count: int
    reference_rows: int = Field(description="Non-null values the reference has in all")
    current_rows: int
    sample_rows: int = DRIFT_SAMPLE_ROWS


class CheckResult(BaseModel):
    """One rule's outcome. A pipeline run's `checks` and a validation's `results` are lists of these."""

    column: str | None
    rule: str
    expected: str
    passed: bool
    observed: Any = None  # what was measured: a count, a ratio, the smallest value, the type found ...
    failing_rows: int = 0
    examples: list[Any] = Field(default_factory=list)  # distinct failing values, or what was found
    sample: list[dict[str, Any]] = Field(default_factory=list)  # whole failing rows (with `_row` when known)
    drift: DriftFinding | None = None
    on_fail: str = "FAIL_RUN"


@dataclass(frozen=True)
class Reference:
    """The dataset version drift is measured against: a table expression DuckDB can read, and its types."""

    source: str
    semantic_types: dict[str, str]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def evaluate_checks(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    checks: list[PipelineCheck],
    *,
    semantic_types: dict[str, str],
    reference: Reference | None = None,
    log: Callable[[str, str], None] = lambda message, level: None,
    checkpoint: Callable[[], None] = lambda: None,
    row_numbers: bool = False,
) -> list[CheckResult]:
    """Every rule of every check on the table `source` (SQL), in order. `semantic_types`: the table's
    columns as ingest typed them. `row_numbers`: `source` carries DuckDB's file_row_number (otherwise a column of
    that name is the user's own)."""
    described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    types = {row[0]: str(row[1]).upper() for row in described if not (row_numbers and row[0] == ROW_NUMBER)}
    table = _Table(connection, source, types, has_row_numbers=row_numbers)
    results = []
    for check in checks:
        for rule in check.rules:
            result = _evaluate(table, check, rule, semantic_types, reference)
            result.on_fail = check.on_fail
            results.append(result)
            log(*_line(result))
            checkpoint()
    return results


@dataclass
class _Table:
    connection: duckdb.DuckDBPyConnection
    source: str
    types: dict[str, str]
    has_row_numbers: bool
    _rows: int | None = None

    @property
    def rows(self) -> int:
        if self._rows is None:
            self._rows = self.one(f"SELECT count(*) FROM {self.source}")[0]
        return self._rows

    def one(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
        """The one row an aggregate answers."""
        row = self.connection.execute(sql, params or []).fetchone()
        assert row is not None
        return row

    def failing(self, column: str, predicate: str, params: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
        """Up to five distinct failing values and five whole failing rows (only run when something failed)."""
        q = ident(column)
        values = self.connection.execute(
            f"SELECT DISTINCT {q} FROM {self.source} WHERE ({predicate}) AND {q} IS NOT NULL LIMIT {EXAMPLES}", params
        ).fetchall()
        cursor = self.connection.execute(f"SELECT * FROM {self.source} WHERE {predicate} LIMIT {SAMPLE_ROWS}", params)
        names = [d[0] for d in cursor.description]
        rows = [
            {
                ("_row" if self.has_row_numbers and name == ROW_NUMBER else name): json_value(value)
                for name, value in zip(names, row, strict=True)
            }
            for row in cursor.fetchall()
        ]
        return [json_value(v[0]) for v in values], rows


def _evaluate(
    table: _Table, check: PipelineCheck, rule: str, semantic_types: dict[str, str], reference: Reference | None
) -> CheckResult:
    column, setting = check.column, getattr(check, rule)
    if rule in COLUMN_RULES and column not in table.types:
        return CheckResult(
            column=column, rule="column_exists", expected="the column exists", passed=False, observed=None, examples=[]
        )
    if rule in ("min_rows", "max_rows"):
        rows = table.rows
        passed = rows >= setting if rule == "min_rows" else rows <= setting
        return CheckResult(
            column=None,
            rule=rule,
            expected=expected(rule, setting),
            passed=passed,
            observed=rows,
            examples=[] if passed else [rows],
        )
    assert column is not None  # a column rule: PipelineCheck refuses one without its column
    if rule == "semantic_type":
        found = semantic_types.get(column)
        return CheckResult(
            column=column,
            rule=rule,
            expected=expected(rule, setting),
            passed=found == setting,
            observed=found,
            examples=[] if found == setting else [found],
        )
    if rule == "drift":
        return _drift(table, column, check, reference)
    q, kind = ident(column), table.types[column]
    is_number = kind.startswith(NUMBERS) or kind.startswith("DECIMAL")
    missing = f"({q} IS NULL OR isnan({q}))" if kind.startswith(FLOATS) else f"{q} IS NULL"
    params: list[Any] = []
    if rule in ("not_null", "max_null_ratio"):
        predicate = missing
    elif rule == "unique":
        return _unique(table, column)
    elif rule in ("min", "max"):
        if not is_number:
            return CheckResult(
                column=column,
                rule=rule,
                expected=f"a numeric column ({expected(rule, setting)})",
                passed=False,
                observed=kind,
                examples=[kind],
            )
        predicate, params = f"{q} {'<' if rule == 'min' else '>'} ?", [setting]
    elif rule == "pattern":
        predicate, params = f"NOT coalesce(regexp_full_match(CAST({q} AS VARCHAR), ?), true)", [setting]
    else:  # allowed_values
        predicate, params = f"{q} IS NOT NULL AND NOT list_contains(?::VARCHAR[], CAST({q} AS VARCHAR))", [setting]
    extreme = f"min({q})" if rule == "min" else f"max({q})" if rule == "max" else "NULL"
    failing, observed_extreme = table.one(
        f"SELECT count(*) FILTER (WHERE {predicate}), {extreme} FROM {table.source}", params
    )
    if rule == "max_null_ratio":
        ratio = failing / table.rows if table.rows else 0.0
        result = CheckResult(
            column=column,
            rule=rule,
            expected=expected(rule, setting),
            passed=ratio <= setting,
            observed=round(ratio, 6),
            failing_rows=failing,
        )
    else:
        observed = json_value(observed_extreme) if rule in ("min", "max") else failing
        result = CheckResult(
            column=column,
            rule=rule,
            expected=expected(rule, setting),
            passed=failing == 0,
            observed=observed,
            failing_rows=failing,
        )
    if not result.passed:
        examples, sample = table.failing(column, predicate, params)
        result.examples = [] if rule in ("not_null", "max_null_ratio") else examples
        result.sample = sample
    return result


def _unique(table: _Table, column: str) -> CheckResult:
    q = ident(column)
    repeated = table.one(f"SELECT count({q}) - count(DISTINCT {q}) FROM {table.source}")[0]
    result = CheckResult(
        column=column,
        rule="unique",
        expected=expected("unique", True),
        passed=repeated == 0,
        observed=repeated,
        failing_rows=repeated,
    )
    if repeated:
        values = [
            v[0]
            for v in table.connection.execute(
                f"SELECT {q} FROM {table.source} WHERE {q} IS NOT NULL GROUP BY {q} HAVING count(*) > 1 "
                f"LIMIT {EXAMPLES}"
            ).fetchall()
        ]
        result.examples = [json_value(v) for v in values]
        _, result.sample = table.failing(column, f"{q} IN (SELECT unnest(?))", [values])
    return result


def _drift(table: _Table, column: str, check: PipelineCheck, reference: Reference | None) -> CheckResult:
    rule = check.drift
    assert rule is not None
    expectation = f"no drift from the reference ({rule.method or 'method by column type and size'})"
    if reference is None:
        return CheckResult(
            column=column,
            rule="drift",
            expected=expectation,
            passed=False,
            observed="no reference dataset (it was deleted)",
        )
    numeric = reference.semantic_types.get(column) == "NUMERIC"
    current, current_rows = _sample(table.connection, table.source, column, numeric)
    try:
        previous, reference_rows = _sample(table.connection, reference.source, column, numeric)
    except duckdb.Error:  # the reference lacks the column (it was edited into the suite by hand)
        return CheckResult(
            column=column,
            rule="drift",
            expected=expectation,
            passed=False,
            observed="the reference dataset has no such column",
        )
    try:
        test = drift_test(
            previous,
            current,
            numeric=numeric,
            column=column,
            method=DriftMethod(rule.method) if rule.method else None,
            threshold=rule.threshold,
        )
    except ValueError as exc:  # a numeric method on a categorical column
        return CheckResult(column=column, rule="drift", expected=expectation, passed=False, observed=str(exc))
    finding = DriftFinding(**test.figures(), reference_rows=reference_rows, current_rows=current_rows)
    return CheckResult(
        column=column,
        rule="drift",
        expected=f"no drift from the reference ({test.method.value}, "
        f"{'p-value >=' if test.p_value is not None else 'distance <'} {test.threshold:g})",
        passed=not test.drifted,
        observed=test.score,
        drift=finding,
    )


def _sample(connection: duckdb.DuckDBPyConnection, source: str, column: str, numeric: bool) -> tuple[pd.Series, int]:
    """The column's non-null values, a seeded reservoir sample of DRIFT_SAMPLE_ROWS when there are more, and
    how many there are in all."""
    q = ident(column)
    value = f"CAST({q} AS DOUBLE)" if numeric else f"CAST({q} AS VARCHAR)"
    total = (connection.execute(f"SELECT count({q}) FROM {source}").fetchone() or (0,))[0]
    picked = f"(SELECT {value} AS v FROM {source} WHERE {q} IS NOT NULL)"
    if total > DRIFT_SAMPLE_ROWS:
        picked = f"(SELECT v FROM {picked} USING SAMPLE reservoir({DRIFT_SAMPLE_ROWS} ROWS) REPEATABLE ({DRIFT_SEED}))"
    frame = connection.execute(f"SELECT v FROM {picked}").df()
    return frame["v"], total


def _line(result: CheckResult) -> tuple[str, str]:
    subject = f"{result.column}: " if result.column else ""
    if result.passed:
        return f"Check passed: {subject}{result.expected} (observed {result.observed})", "INFO"
    detail = f"{result.failing_rows:,} row(s) failing" if result.failing_rows else f"observed {result.observed}"
    shown = f" (e.g. {', '.join(map(str, result.examples))})" if result.examples else ""
    return f"Check failed: {subject}expected {result.expected}; {detail}{shown}", "WARNING"


class ValidationResult(BaseModel):
    """The VALIDATE job's result: a result per check rule, and the verdict."""

    passed: bool
    results: list[CheckResult]
