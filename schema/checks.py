"""Check suite types: saved checks drafted from a profile, and validations (a suite run on a dataset)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

import strawberry
from strawberry.scalars import JSON

from schema.common import Connection, SemanticType, payload
from schema.conversion import fields_of, loaded, node_fields
from schema.datasets import Dataset
from schema.jobs import Job, JobPriority, priority_input
from services import checks, drift
from services.checks import service as checks_service
from services.checks.evaluate import CheckResult as StoredCheckResult
from services.storage.tables import CheckSuite as SuiteRow
from services.storage.tables import Validation as ValidationRow


@strawberry.enum(description="What a failed check does to the run")
class CheckFailure(Enum):
    FAIL_RUN = "FAIL_RUN"
    DROP_ROWS = "DROP_ROWS"
    WARN = "WARN"


@strawberry.enum
class CheckRule(Enum):
    NOT_NULL = "not_null"
    UNIQUE = "unique"
    MIN = "min"
    MAX = "max"
    PATTERN = "pattern"
    ALLOWED_VALUES = "allowed_values"
    SEMANTIC_TYPE = "semantic_type"
    MIN_ROWS = "min_rows"
    MAX_ROWS = "max_rows"
    COLUMN_EXISTS = "column_exists"
    MAX_NULL_RATIO = "max_null_ratio"
    DRIFT = "drift"


# The services' own enum: a method a check records is one the schema declares.
if TYPE_CHECKING:  # as mypy sees it; strawberry wraps it as the GraphQL DriftMethod
    from services.drift import DriftMethod
else:
    DriftMethod = strawberry.enum(
        drift.DriftMethod,
        name="DriftMethod",
        description=(
            "KS and CHI_SQUARE are tests (drift when the p-value is below the threshold); WASSERSTEIN (normed by the "
            "reference's standard deviation), JENSEN_SHANNON and PSI are distances (drift at or above it)"
        ),
    )


@strawberry.input(
    description="The column's distribution against the suite's reference dataset (the version the "
    "suite was drafted from); leave both out for the defaults"
)
class DriftRuleInput:
    method: DriftMethod | None = strawberry.field(
        default=None,
        description=(
            "Left out: KS or CHI_SQUARE for references of up to 1,000 values, WASSERSTEIN or JENSEN_SHANNON beyond "
            "(numbers with few distinct values count as categories)"
        ),
    )
    threshold: float | None = strawberry.field(
        default=None,
        description=(
            "A p-value for tests (default 0.05) or a distance (default 0.1); in (0, 1], PSI and WASSERSTEIN above too"
        ),
    )


@strawberry.input(
    description=(
        "Rules the output must meet before it is stored, checked after the steps. Column rules need `column`; "
        "each rule set is reported on its own in the run's `checks`."
    )
)
class PipelineCheckInput:
    suite_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A saved check suite, run whole (its drift checks against its reference); `onFail` says what its failures "
            "do (FAIL_RUN or WARN). Takes no column or rules of its own"
        ),
    )
    column: str | None = None
    not_null: bool | None = strawberry.field(default=None, description="No missing values (NaN counts as missing)")
    unique: bool | None = strawberry.field(default=None, description="No value twice (missing values aside)")
    min: float | None = strawberry.field(default=None, description="Numeric values at least this")
    max: float | None = strawberry.field(default=None, description="Numeric values at most this")
    pattern: str | None = strawberry.field(
        default=None, description=("A regular expression (RE2 syntax) every present value matches in full")
    )
    allowed_values: list[str] | None = strawberry.field(
        default=None, description=("Every present value is one of these (compared as text)")
    )
    semantic_type: SemanticType | None = strawberry.field(
        default=None, description="The column is inferred as this type"
    )
    min_rows: int | None = strawberry.field(default=None, description="The output has at least this many rows")
    max_rows: int | None = strawberry.field(default=None, description="The output has at most this many rows")
    max_null_ratio: float | None = strawberry.field(
        default=None, description=("At most this share (0 to 1) of the column's values are missing")
    )
    drift: DriftRuleInput | None = strawberry.field(
        default=None,
        description=(
            "No drift from the reference dataset: in check suites only (a pipeline names the suite by `suiteId`)"
        ),
    )
    on_fail: CheckFailure | None = strawberry.field(
        default=CheckFailure.FAIL_RUN,
        description=(
            "FAIL_RUN: nothing is stored and the run fails; DROP_ROWS: the failing rows are left out (row rules only); "
            "WARN: a warning in the log"
        ),
    )


@strawberry.type
class PipelineCheckResult:
    column: str | None
    rule: CheckRule
    expected: str = strawberry.field(description='In words: ">= 0", "no missing values", "at least 100 rows"')
    passed: bool
    failing_rows: int = strawberry.field(description="Rows that break a row rule (0 for type and row-count rules)")
    examples: list[JSON] = strawberry.field(
        description=("Up to five distinct failing values; for type and row-count rules, what was found")
    )
    on_fail: CheckFailure
    observed: JSON | None = strawberry.field(
        default=None,
        description=(
            "What was measured, for checks of a saved suite: a count, a ratio, the smallest value, a drift score"
        ),
    )
    suite: str | None = strawberry.field(default=None, description="The saved suite this check came from, by name")


@strawberry.type(description="A distribution-drift rule as saved")
class DriftRule:
    method: DriftMethod | None = strawberry.field(description="Null: chosen per column type and size when run")
    threshold: float | None = strawberry.field(description="Null: the method's default")


@strawberry.type(
    description=(
        "One check of a suite, in the shape of PipelineCheckInput (send it back as it is, nulls left out): a column "
        "(or the table) and the rules it must meet"
    )
)
class Check:
    column: str | None
    not_null: bool | None
    unique: bool | None
    min: float | None
    max: float | None
    pattern: str | None
    allowed_values: list[str] | None
    semantic_type: SemanticType | None
    min_rows: int | None
    max_rows: int | None
    max_null_ratio: float | None
    drift: DriftRule | None
    on_fail: CheckFailure

    @classmethod
    def from_model(cls, check: Any) -> Check:
        drift = check.drift
        return cls(
            **fields_of(
                cls,
                check,
                drift=DriftRule(**fields_of(DriftRule, drift)) if drift else None,
            )
        )


def _checks(stored: list[dict[str, Any]]) -> list[Check]:
    from services.pipelines.config.checks import PipelineCheck

    return [Check.from_model(PipelineCheck.model_validate(check)) for check in stored]


@strawberry.type(
    description="A draft suite derived from the dataset's profile; nothing is saved until createCheckSuite"
)
class CheckSuiteDraft:
    dataset: Dataset = strawberry.field(description="The profiled version: the reference of the drift checks")
    checks: list[Check] = strawberry.field(
        description=(
            "Row count between half and one and a half times the profiled count; per column its type, notNull (none "
            "missing now) or maxNullRatio (the share missing now + 0.05), min/max (the observed range widened by 10% "
            "of the p5..p95 spread, not below 0 for non-negative columns), allowedValues (categorical columns of up to "
            "20 levels), unique (unique now), and drift (numeric and categorical columns)"
        )
    )


@strawberry.type(description="Saved data checks; `dataset` is the reference their drift checks compare against")
class CheckSuite:
    id: strawberry.ID
    name: str
    checks: list[Check]
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[SuiteRow]

    @classmethod
    def from_row(cls, row: SuiteRow) -> CheckSuite:
        return cls(**node_fields(cls, row, checks=_checks(row.checks)))

    @strawberry.field(description="The reference version (null once deleted: drift checks cannot run then)")
    async def dataset(self, info: strawberry.Info) -> Dataset | None:
        return await loaded(info.context.loaders.dataset, self.row.dataset_id, Dataset.from_row)

    @strawberry.field(description="Runs of this suite, newest first")
    async def validations(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> ValidationConnection:
        ctx = info.context
        page = await ctx.owned(
            checks_service.list_validations, dataset_id=None, suite_id=self.row.id, **ctx.page(first, after)
        )
        return ValidationConnection.from_page(page, Validation.from_row)


ValidationStatus = checks.ValidationStatus  # made a GraphQL enum in place (as DatasetStatus)
strawberry.enum(ValidationStatus, name="ValidationStatus", description="Where a validation stands")


@strawberry.type(description="A drift rule's test as run (statistics as scipy computes them)")
class DriftFinding:
    method: DriftMethod
    statistic: float | None = strawberry.field(description="Null when either side had no values")
    p_value: float | None = strawberry.field(description="For KS and CHI_SQUARE")
    threshold: float
    drifted: bool
    reference_count: int = strawberry.field(
        description="Reference values in the test (a sample of at most 50,000 when there are more)"
    )
    current_count: int = strawberry.field(description="Current values in the test (sampled likewise)")
    reference_rows: int = strawberry.field(description="Non-null reference values in all")
    current_rows: int = strawberry.field(description="Non-null current values in all")


@strawberry.type(description="One rule's result in a validation")
class CheckOutcome:
    column: str | None
    rule: CheckRule
    expected: str = strawberry.field(description='In words: ">= 0", "at most 5.00% missing", "a NUMERIC column"')
    passed: bool
    observed: JSON | None = strawberry.field(
        description=(
            "What was measured: failing or missing row count, missing share, smallest/largest value, repeated values, "
            "the type found, the row count, the drift score (p-value or distance)"
        )
    )
    failing_rows: int
    examples: list[JSON] = strawberry.field(description="Up to five distinct failing values")
    failing_sample: list[JSON] = strawberry.field(
        description=("Up to five whole failing rows (column -> value; `_row` is the row's position, from 0)")
    )
    drift: DriftFinding | None
    on_fail: CheckFailure = strawberry.field(description="WARN: a failure does not fail the verdict")

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CheckOutcome:
        r = StoredCheckResult.model_validate(stored)  # the model the evaluation wrote it from
        d = r.drift
        return cls(
            **fields_of(
                cls,
                r,
                failing_sample=cast("list[JSON]", r.sample),  # rows of JSON values, as stored
                drift=DriftFinding(**fields_of(DriftFinding, d)) if d else None,
            )
        )


@strawberry.type(description="A suite run on a dataset: a result per check rule and the verdict")
class Validation:
    id: strawberry.ID
    status: ValidationStatus
    passed: bool | None = strawberry.field(
        description="The verdict: every check not set to WARN passed (null until the job ends)"
    )
    checks: list[Check] = strawberry.field(description="The checks as they were run (the suite may change since)")
    error: str | None = strawberry.field(description="Why the job failed (status ERROR)")
    created_at: datetime
    finished_at: datetime | None
    row: strawberry.Private[ValidationRow]

    @classmethod
    def from_row(cls, row: ValidationRow) -> Validation:
        outcomes: dict[str, bool] = {ValidationStatus.PASSED: True, ValidationStatus.FAILED: False}
        passed = outcomes.get(row.status)
        return cls(**node_fields(cls, row, passed=passed, checks=_checks(row.checks)))

    @strawberry.field(description="Each rule's result, in the suite's order")
    def results(self, failed_only: bool = False) -> list[CheckOutcome]:
        return [CheckOutcome.from_stored(r) for r in self.row.results if not (failed_only and r["passed"])]

    @strawberry.field(description="Rules that failed (WARN ones included)")
    def failed_count(self) -> int:
        return sum(not r["passed"] for r in self.row.results)

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Dataset | None:
        return await loaded(info.context.loaders.dataset, self.row.dataset_id, Dataset.from_row)

    @strawberry.field(description="Null once the suite is deleted")
    async def suite(self, info: strawberry.Info) -> CheckSuite | None:
        return await loaded(info.context.loaders.check_suite, self.row.suite_id, CheckSuite.from_row)

    @strawberry.field(description="The VALIDATE job, with its live log")
    async def job(self, info: strawberry.Info) -> Job | None:
        return await loaded(info.context.loaders.job, self.row.job_id, Job.from_row)


CheckSuiteConnection = Connection[CheckSuite]
ValidationConnection = Connection[Validation]


@strawberry.input
class CreateCheckSuiteInput:
    dataset_id: strawberry.ID = strawberry.field(description="The reference version (its columns are the ones checked)")
    name: str
    checks: list[PipelineCheckInput] = strawberry.field(description="As suggestChecks drafted them, edited; no suiteId")


@strawberry.input
class UpdateCheckSuiteInput:
    id: strawberry.ID
    name: str | None = None
    checks: list[PipelineCheckInput] | None = strawberry.field(default=None, description="Replaces the checks")


@payload
class CheckSuitePayload:
    suite: CheckSuite | None = None


@strawberry.input
class ValidateDatasetInput:
    dataset_id: strawberry.ID = strawberry.field(description="Any READY dataset with the columns the suite checks")
    suite_id: strawberry.ID
    priority: JobPriority = priority_input()


@payload
class ValidateDatasetPayload:
    validation: Validation | None = None
    job: Job | None = None
