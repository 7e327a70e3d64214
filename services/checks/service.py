"""Check suites: draft one from a profile, save and edit it, run it on a dataset (a VALIDATE job) and read
the validations back. A suite's checks are the pipelines' checks (services.pipelines.config.checks.PipelineCheck),
so a pipeline may name a suite among its checks (`suiteId`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.checks import ValidationStatus
from services.checks.evaluate import ValidationResult
from services.checks.suggest import suggest_checks
from services.datasets.dataset_jobs import submit_on_dataset
from services.datasets.service import get_ready_dataset
from services.errors import ErrorCode, ServiceError, conflict, invalid
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.names import MAX_NAME
from services.pagination import Page, paginate
from services.pipelines.config.base import Config
from services.pipelines.config.checks import PipelineCheck
from services.pipelines.config.refusals import parse_typed
from services.profiling.service import load_profile
from services.storage.lookup import owned, require_owned
from services.storage.tables import CheckSuite, Dataset, Job, Validation, utcnow
from services.webhooks.events import WebhookEvent, publish

MAX_CHECKS = 1000
NUMERIC_ONLY = ("min", "max")


class SuiteChecks(Config):
    checks: list[PipelineCheck] = Field(
        min_length=1, max_length=MAX_CHECKS, json_schema_extra={"refusal": f"Give a suite 1 to {MAX_CHECKS:,} checks"}
    )


def parse_checks(checks: list[dict[str, Any]]) -> list[PipelineCheck]:
    """Checks as the client wrote them (GraphQL names), typed; a refusal names the input field at fault."""
    parsed: list[PipelineCheck] = parse_typed(SuiteChecks, {"checks": checks}).checks
    for index, check in enumerate(parsed):
        if check.suite_id is not None:
            raise invalid("A suite's checks cannot name another suite", ["checks", str(index), "suiteId"])
    return parsed


def stored_checks(checks: list[PipelineCheck]) -> list[dict[str, Any]]:
    return [check.model_dump(mode="json", exclude_none=True) for check in checks]


def suite_checks(suite: CheckSuite) -> list[PipelineCheck]:
    return [PipelineCheck.model_validate(check) for check in suite.checks]


def check_fits(checks: list[PipelineCheck], columns: list[dict[str, Any]], *, field: list[str]) -> None:
    """Each check's column is one of `columns` (a dataset's), and its rules suit that column's type.
    `field`: where a missing column is reported (the checks themselves when saving, the dataset when running)."""
    by_name = {column["name"]: column for column in columns}
    missing = [check.column for check in checks if check.column is not None and check.column not in by_name]
    if missing:
        at = (
            field
            if field != ["checks"]
            else ["checks", str(next(i for i, c in enumerate(checks) if c.column in missing)), "column"]
        )
        raise invalid(
            f"The dataset has no column(s) {', '.join(sorted(set(missing)))}: the suite checks columns of "
            "another dataset",
            at,
        )
    for index, check in enumerate(checks):
        semantic = by_name[check.column]["semantic_type"] if check.column else None
        for rule in NUMERIC_ONLY:
            if getattr(check, rule) is not None and semantic != "NUMERIC":
                raise invalid(
                    f"`{rule}` needs a numeric column; {check.column} is {semantic}", ["checks", str(index), rule]
                )
        if check.drift and check.drift.method in ("KS", "WASSERSTEIN") and semantic != "NUMERIC":
            raise invalid(
                f"{check.drift.method} needs a numeric column; {check.column} is {semantic}",
                ["checks", str(index), "drift", "method"],
            )


async def suggest(
    session: AsyncSession, *, owner_id: str, dataset_id: str | None, data_dir: Path
) -> tuple[Dataset, list[PipelineCheck]]:
    """A draft suite from the dataset's stored profile (nothing is saved). Without a profile: a CONFLICT
    saying to profile first (profiling is a job; a suggestion answers at once)."""
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id, why="; checks need it READY")
    profile = load_profile(data_dir, dataset.id)
    if profile is None:
        raise conflict(
            "The dataset has no profile yet: profile it first (profileDataset), then ask again", ["datasetId"]
        )
    return dataset, suggest_checks(profile)


async def create_suite(
    session: AsyncSession, *, owner_id: str, dataset_id: str | None, name: str, checks: list[dict[str, Any]]
) -> CheckSuite:
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id, why="; checks need it READY")
    parsed = parse_checks(checks)
    check_fits(parsed, dataset.columns, field=["checks"])
    suite = CheckSuite(owner_id=owner_id, dataset_id=dataset.id, name=_name(name), checks=stored_checks(parsed))
    session.add(suite)
    await session.commit()
    await session.refresh(suite)
    return suite


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise invalid(f"Give the suite a name of 1 to {MAX_NAME} characters", ["name"])
    return name


async def get_suite(session: AsyncSession, *, owner_id: str, suite_id: str | None) -> CheckSuite | None:
    return await owned(session, CheckSuite, owner_id=owner_id, row_id=suite_id)


async def require_suite(session: AsyncSession, *, owner_id: str, suite_id: str | None, field: str = "id") -> CheckSuite:
    return await require_owned(
        session, CheckSuite, owner_id=owner_id, row_id=suite_id, what="Check suite", field=[field]
    )


async def update_suite(
    session: AsyncSession, *, owner_id: str, suite_id: str | None, name: str | None, checks: list[dict[str, Any]] | None
) -> CheckSuite:
    """Replace the name and/or the checks (as given); the reference dataset stays."""
    suite = await require_suite(session, owner_id=owner_id, suite_id=suite_id)
    if name is not None:
        suite.name = _name(name)
    if checks is not None:
        parsed = parse_checks(checks)
        reference = await session.get(Dataset, suite.dataset_id) if suite.dataset_id else None
        if reference is not None:
            check_fits(parsed, reference.columns, field=["checks"])
        suite.checks = stored_checks(parsed)
    suite.updated_at = utcnow()
    session.add(suite)
    await session.commit()
    await session.refresh(suite)
    return suite


async def delete_suite(session: AsyncSession, *, owner_id: str, suite_id: str | None) -> None:
    """Past validations keep their results (and the checks they ran); pipelines naming the suite fail their
    next run until it is taken out of their checks."""
    suite = await require_suite(session, owner_id=owner_id, suite_id=suite_id)
    await session.delete(suite)
    await session.commit()


async def list_suites(
    session: AsyncSession, *, owner_id: str, dataset_id: str | None, first: int, after: str | None, max_first: int
) -> Page[CheckSuite]:
    filters = [col(CheckSuite.owner_id) == owner_id]
    if dataset_id is not None:
        filters.append(col(CheckSuite.dataset_id) == dataset_id)
    return await paginate(session, CheckSuite, filters=filters, first=first, after=after, max_first=max_first)


def _semantic_types(dataset: Dataset) -> dict[str, str]:
    return {column["name"]: column["semantic_type"] for column in dataset.columns}


async def run_params(session: AsyncSession, suite: CheckSuite, *, field: str) -> dict[str, Any]:
    """What a run of `suite` needs besides the data: its checks and its reference dataset's id and types."""
    checks = suite_checks(suite)
    reference = await session.get(Dataset, suite.dataset_id) if suite.dataset_id else None
    if reference is None and any(check.drift for check in checks):
        raise invalid("The suite's reference dataset was deleted: take its drift checks out first", [field])
    return {
        "checks": stored_checks(checks),
        "reference_id": reference.id if reference else None,
        "reference_types": _semantic_types(reference) if reference else {},
    }


async def start_validation(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    dataset_id: str | None,
    suite_id: str | None,
    data_dir: Path,
) -> tuple[Validation, Job]:
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id, why="; checks need it READY")
    suite = await require_suite(session, owner_id=owner_id, suite_id=suite_id, field="suiteId")
    check_fits(suite_checks(suite), dataset.columns, field=["datasetId"])
    params = await run_params(session, suite, field="suiteId")
    validation = Validation(owner_id=owner_id, dataset_id=dataset.id, suite_id=suite.id, checks=params["checks"])
    params |= {"validation_id": validation.id, "semantic_types": _semantic_types(dataset)}
    job = await submit_on_dataset(
        session, jobs=jobs, kind="VALIDATE", dataset=dataset, data_dir=data_dir, params=params, record=validation
    )
    return validation, job


async def on_validate_start(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    validation = await session.get(Validation, job.params["validation_id"])
    if validation is not None:
        validation.status = ValidationStatus.RUNNING
        session.add(validation)


async def on_validate_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    """Store the results and the verdict; a failed verdict is announced (webhooks) in the same transaction."""
    validation = await session.get(Validation, job.params["validation_id"])
    if validation is None or result is None:
        return
    validation.results, validation.finished_at = result["results"], utcnow()
    validation.status = ValidationStatus.PASSED if result["passed"] else ValidationStatus.FAILED
    session.add(validation)
    if not result["passed"]:
        failed = [r for r in result["results"] if not r["passed"] and r["on_fail"] != "WARN"]
        await publish(
            session,
            user_id=validation.owner_id,
            event=WebhookEvent.VALIDATION_FAILED,
            data={
                "validation_id": validation.id,
                "dataset_id": validation.dataset_id,
                "suite_id": validation.suite_id,
                "job_id": job.id,
                "failed_checks": len(failed),
                "checks": len(result["results"]),
                "failures": [
                    {"column": r["column"], "rule": r["rule"], "expected": r["expected"], "observed": r["observed"]}
                    for r in failed[:20]
                ],
            },
        )


async def on_validate_failure(session: AsyncSession, job: Job, _details: dict[str, Any] | None) -> None:
    validation = await session.get(Validation, job.params["validation_id"])
    if validation is not None:
        validation.status, validation.error, validation.finished_at = ValidationStatus.ERROR, job.error, utcnow()
        session.add(validation)


async def get_validation(session: AsyncSession, *, owner_id: str, validation_id: str | None) -> Validation | None:
    return await owned(session, Validation, owner_id=owner_id, row_id=validation_id)


async def list_validations(
    session: AsyncSession,
    *,
    owner_id: str,
    dataset_id: str | None,
    suite_id: str | None,
    first: int,
    after: str | None,
    max_first: int,
) -> Page[Validation]:
    filters = [col(Validation.owner_id) == owner_id]
    if dataset_id is not None:
        filters.append(col(Validation.dataset_id) == dataset_id)
    if suite_id is not None:
        filters.append(col(Validation.suite_id) == suite_id)
    return await paginate(session, Validation, filters=filters, first=first, after=after, max_first=max_first)


async def pipeline_suites(
    session: AsyncSession, *, owner_id: str, checks: list[PipelineCheck] | None
) -> dict[str, dict[str, Any]]:
    """The suites a pipeline's checks name, as a run needs them (by suite id); a suite gone since the
    pipeline was saved fails the run before anything is collected."""
    suites: dict[str, dict[str, Any]] = {}
    for index, check in enumerate(checks or []):
        if check.suite_id is None or check.suite_id in suites:
            continue
        suite = await get_suite(session, owner_id=owner_id, suite_id=check.suite_id)
        if suite is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND,
                "Check suite not found: name one of yours, or take it out of the pipeline's checks",
                ["checks", str(index), "suiteId"],
            )
        suites[suite.id] = {**await run_params(session, suite, field="suiteId"), "name": suite.name}
    return suites


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "VALIDATE": JobKindSpec(
        work="services.checks.job:run_validation",
        queue="analysis",
        hooks=JobHooks(on_start=on_validate_start, on_success=on_validate_success, on_failure=on_validate_failure),
        result=ValidationResult,
    )
}
