"""A data check: rules on a column or the table (or a saved suite by id), and what a failure does.
Shared by pipelines and check suites (services.checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from services.pipelines.config.base import Config, refused

ROW_RULES = ("not_null", "unique", "min", "max", "pattern", "allowed_values")  # a failure is a set of rows
COLUMN_RULES = (*ROW_RULES, "semantic_type", "max_null_ratio", "drift")
TABLE_RULES = ("min_rows", "max_rows")
CheckAction = Literal["FAIL_RUN", "DROP_ROWS", "WARN"]
DriftMethodName = Literal["KS", "WASSERSTEIN", "CHI_SQUARE", "JENSEN_SHANNON", "PSI"]  # services.drift.DriftMethod


class DriftRule(Config):
    """The column's distribution against the suite's reference dataset (the version it was suggested from);
    no method: chosen per column type and size (services.drift.choose_method)."""

    method: DriftMethodName | None = None
    threshold: float | None = None

    @model_validator(mode="after")
    def _threshold_fits_method(self) -> DriftRule:
        from services.drift import DriftMethod, valid_threshold

        if self.threshold is not None:
            methods = [DriftMethod(self.method)] if self.method else list(DriftMethod)
            if not any(valid_threshold(m, self.threshold) for m in methods) or (
                self.method is None and not 0 < self.threshold <= 1
            ):
                raise refused(
                    "`threshold` must be above 0 and at most 1 (a p-value or a bounded distance); "
                    "PSI and WASSERSTEIN also take larger distances",
                    "threshold",
                )
        return self


class PipelineCheck(Config):
    """One check: a column (or the table) and one or more rules, or a whole saved suite by `suite_id` (its
    checks then fail the run or warn as this entry's `on_fail` says)."""

    suite_id: str | None = None
    column: str | None = None
    not_null: bool | None = None
    unique: bool | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    allowed_values: list[str] | None = Field(
        default=None, min_length=1, json_schema_extra={"refusal": "`allowedValues` cannot be empty"}
    )
    semantic_type: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "DATETIME", "TEXT", "IDENTIFIER", "EMPTY"] | None = None
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    max_null_ratio: float | None = Field(default=None, ge=0, le=1)
    drift: DriftRule | None = None
    on_fail: CheckAction = "FAIL_RUN"

    @field_validator("pattern")
    @classmethod
    def _is_re2(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            import pyarrow as pa
            import pyarrow.compute as pc

            try:
                pc.match_substring_regex(pa.array([""]), pattern=pattern)
            except pa.ArrowInvalid as exc:
                raise refused(f"Not a regular expression (RE2 syntax): {exc}") from exc
        return pattern

    @property
    def rules(self) -> list[str]:
        """The rules this check sets, in a fixed order (a `False` flag sets nothing)."""
        return [
            rule
            for rule in (*COLUMN_RULES, *TABLE_RULES)
            if getattr(self, rule) is not None and getattr(self, rule) is not False
        ]

    @model_validator(mode="after")
    def _can_be_evaluated(self) -> PipelineCheck:
        rules = self.rules
        if self.suite_id is not None:
            if rules or self.column is not None:
                raise refused("A check naming a `suiteId` takes no column or rules of its own", "suiteId")
            if self.on_fail == "DROP_ROWS":
                raise refused(
                    "A suite fails the run or warns (FAIL_RUN or WARN): its table-wide checks single out no rows",
                    "onFail",
                )
            return self
        if not rules:
            raise refused(
                "Give the check at least one rule (notNull, unique, min, max, pattern, allowedValues, "
                "semanticType, minRows, maxRows, maxNullRatio, drift) or a `suiteId`"
            )
        if any(rule in COLUMN_RULES for rule in rules) and not (self.column or "").strip():
            raise refused("Name the `column` the check is about", "column")
        if self.on_fail == "DROP_ROWS" and not set(rules) <= set(ROW_RULES):
            raise refused(
                "DROP_ROWS needs rules that single out rows; semanticType, minRows, maxRows, maxNullRatio "
                "and drift cannot",
                "onFail",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise refused("`min` is above `max`", "min")
        return self


def expected(rule: str, setting: Any) -> str:
    """What a rule expects, in the words of its check result: a pipeline run's checks and a suite's validation
    say it alike (drift, which says its method, excepted)."""
    described: dict[str, Callable[[], str]] = {
        "not_null": lambda: "no missing values",
        "unique": lambda: "no repeated values",
        "min": lambda: f">= {setting:g}",
        "max": lambda: f"<= {setting:g}",
        "pattern": lambda: f"matches {setting}",
        "allowed_values": lambda: "one of " + ", ".join(setting),
        "semantic_type": lambda: f"a {setting} column",
        "max_null_ratio": lambda: f"at most {setting:.2%} missing",
        "min_rows": lambda: f"at least {setting:,} rows",
        "max_rows": lambda: f"at most {setting:,} rows",
    }
    return described[rule]()
