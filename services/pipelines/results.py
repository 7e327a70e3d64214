"""What a PIPELINE job stores: its params' run id, its result, and each check's outcome (`PipelineRun.checks`).

The job's result is read through `RunResult` by the success hook; the schema reads a run's checks through
`CheckResult`. Unknown keys are ignored and optional ones default, so runs stored earlier still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.stored import StoredModel


class RunParams(StoredModel):
    """The one param of a PIPELINE job that names what it carries out."""

    run_id: str | None = None


class CheckResult(StoredModel):
    """One check's outcome on a run's output (services.pipelines.checks)."""

    column: str | None = None
    rule: str
    expected: str
    passed: bool
    failing_rows: int
    examples: list[Any] = Field(default_factory=list)
    on_fail: str
    observed: Any = None  # what the rule measured (a suite's checks: null ratio, drift statistic ...)
    suite: str | None = None  # the check suite this result came from, when it came from one


class RunResult(StoredModel):
    """The PIPELINE job's result, as the success hook applies it to the run and its dataset."""

    rows_in: int | None = None
    rows_out: int | None = None
    version: int | None = None
    columns: list[dict[str, Any]] = Field(default_factory=list)
    output: dict[str, Any] = Field(default_factory=dict)
    recipe: Any = None
    checks: list[CheckResult] = Field(default_factory=list)
    row_count: int | None = None
    column_count: int | None = None
    timings: dict[str, float] = Field(default_factory=dict)
