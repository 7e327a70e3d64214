"""Unit tests of pipeline checks and configs (services.pipelines): a table and a config in, results or a typed
refusal out — no server, no source, no job. tests/pipelines/test_checks.py drives the same rules through runs."""

from __future__ import annotations

import pyarrow as pa
import pytest

from services.errors import ErrorCode, ServiceError
from services.pipelines.checks import run_checks
from services.pipelines.config import parse_config
from services.pipelines.config.checks import PipelineCheck
from services.pipelines.results import CheckResult

TABLE = pa.table({"id": [1, 2, 2, None], "amount": [5.0, -5.0, 7.0, 1e6], "status": ["paid", "lost", "paid", "paid"]})
TYPES = {"id": "NUMERIC", "amount": "NUMERIC", "status": "CATEGORICAL"}


def checks(*given: dict) -> list[PipelineCheck]:
    return [PipelineCheck.model_validate(c) for c in given]


def run(*given: dict) -> tuple[pa.Table, list[CheckResult], list[str]]:
    logged: list[str] = []
    table, results = run_checks(TABLE, checks(*given), TYPES, lambda message, _level: logged.append(message))
    return table, [CheckResult.model_validate(r) for r in results], logged


def test_warnings_report_every_rule_with_examples_and_keep_every_row():
    table, results, logged = run(
        {"column": "id", "not_null": True, "unique": True, "on_fail": "WARN"},
        {"column": "amount", "min": 0, "max": 1000, "on_fail": "WARN"},
        {"column": "status", "allowed_values": ["paid", "refunded"], "on_fail": "WARN"},
    )
    assert table.num_rows == 4
    by_rule = {(r.column, r.rule): r for r in results}
    assert [(r.column, r.rule) for r in results] == [
        ("id", "not_null"),
        ("id", "unique"),
        ("amount", "min"),
        ("amount", "max"),
        ("status", "allowed_values"),
    ]
    assert by_rule[("id", "unique")].failing_rows == 1 and by_rule[("id", "unique")].examples == [2]
    assert by_rule[("amount", "min")].examples == [-5.0] and by_rule[("amount", "max")].examples == [1e6]
    assert by_rule[("status", "allowed_values")].examples == ["lost"]
    assert not any(r.passed for r in results) and len(logged) == 5


def test_drop_rows_removes_exactly_the_failing_rows():
    table, results, _ = run({"column": "amount", "min": 0, "on_fail": "DROP_ROWS"})
    assert table.column("amount").to_pylist() == [5.0, 7.0, 1e6] and results[0].failing_rows == 1


def test_fail_run_raises_with_every_result_attached():
    with pytest.raises(ServiceError) as raised:
        run({"column": "amount", "min": 0}, {"min_rows": 10}, {"column": "status", "semantic_type": "CATEGORICAL"})
    assert raised.value.code == ErrorCode.INVALID_INPUT and "2 check(s) failed" in str(raised.value)
    results = [CheckResult.model_validate(r) for r in raised.value.details["checks"]]
    assert [(r.rule, r.passed) for r in results] == [("min", False), ("min_rows", False), ("semantic_type", True)]


def test_a_missing_column_fails_the_run_even_when_rows_would_be_dropped():
    with pytest.raises(ServiceError) as raised:
        run({"column": "nope", "not_null": True, "on_fail": "DROP_ROWS"})
    assert raised.value.details["checks"][0]["rule"] == "column_exists"


def config(**parts) -> dict:
    return {
        "source": {"http": {"url": "https://api.example.com/items"}},
        "sink": {"dataset": {"name": "items"}},
        **parts,
    }


def test_a_valid_config_is_typed_with_its_tagged_parts():
    parsed = parse_config(config(checks=[{"column": "id", "unique": True}]))
    assert parsed.source.kind == "http" and parsed.sink.kind == "dataset" and parsed.checks[0].rules == ["unique"]


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"http": {"url": "https://a.example/x", "method": "DELETE"}}, "method"),
        ({"http": {"url": "https://a.example/x", "cursor_path": "next"}}, "cursorParam"),
        ({"http": {"url": "https://a.example/x", "first_page": 2}}, "firstPage"),
    ],
)
def test_refusals_name_the_field_at_fault(source, field):
    with pytest.raises(ServiceError) as raised:
        parse_config(config(source=source))
    assert raised.value.code == ErrorCode.INVALID_INPUT and raised.value.field[-1] == field


def test_a_check_pattern_must_be_a_re2_expression():
    with pytest.raises(ServiceError):
        parse_config(config(checks=[{"column": "email", "pattern": "(unclosed"}]))
