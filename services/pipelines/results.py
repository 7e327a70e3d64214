"""What a PIPELINE job stores: its params' run id, its result, and each check's outcome (`PipelineRun.checks`).

The job's result is read through `RunResult` by the success hook; the schema reads a run's checks through
`CheckResult`. Unknown keys are ignored and optional ones default, so runs stored earlier still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Stored(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunParams(Stored):
    """The one param of a PIPELINE job that names what it carries out."""

    run_id: str | None = None


class CheckResult(Stored):
    """One check's outcome on a run's output (services.pipelines.checks)."""

    column: str | None = None
    rule: str
    expected: str
    passed: bool
    failing_rows: int
    examples: list[Any] = []
    on_fail: str
    observed: Any = None  # what the rule measured (a suite's checks: null ratio, drift statistic ...)
    suite: str | None = None  # the check suite this result came from, when it came from one


class RunResult(Stored):
    """The PIPELINE job's result, as the success hook applies it to the run and its dataset."""

    rows_in: int | None = None
    rows_out: int | None = None
    version: int | None = None
    columns: list[dict[str, Any]] = []
    output: dict[str, Any] = {}
    recipe: Any = None
    checks: list[CheckResult] = []
    row_count: int | None = None
    column_count: int | None = None
    timings: dict[str, float] = {}
