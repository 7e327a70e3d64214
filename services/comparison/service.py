"""Compare two dataset versions: check the request, start a COMPARE job, record its comparison, list them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services import drift, files
from services.comparison.compute import kind_of
from services.comparison.job import comparison_dir
from services.comparison.models import ColumnKind, ComparisonResult
from services.datasets.service import get_ready_dataset
from services.errors import invalid
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.pagination import Page, paginate
from services.storage.lookup import owned, owned_by_ids
from services.storage.tables import Comparison, Dataset, Job, new_id


@dataclass(frozen=True)
class TestRequest:
    """A user's choice of drift test: for one column, or (column None) for every compared column."""

    column: str | None = None
    method: str | None = None
    threshold: float | None = None


def schema_difference(reference: list[dict[str, Any]], current: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns added (current only), dropped (reference only), and common ones whose type changed."""
    ref = {c["name"]: c for c in reference}
    cur = {c["name"]: c for c in current}

    def typed(column: dict[str, Any]) -> dict[str, Any]:
        return {"name": column["name"], "dtype": column["dtype"], "semantic_type": column["semantic_type"]}

    changed = [
        {
            "name": name,
            "reference_dtype": ref[name]["dtype"],
            "current_dtype": cur[name]["dtype"],
            "reference_semantic_type": ref[name]["semantic_type"],
            "current_semantic_type": cur[name]["semantic_type"],
        }
        for name in ref
        if name in cur
        and (ref[name]["dtype"], ref[name]["semantic_type"]) != (cur[name]["dtype"], cur[name]["semantic_type"])
    ]
    return {
        "added": [typed(c) for c in current if c["name"] not in ref],
        "dropped": [typed(c) for c in reference if c["name"] not in cur],
        "type_changed": changed,
    }


def _chosen_columns(reference: Dataset, current: Dataset, columns: list[str] | None) -> list[str]:
    ref = {c["name"] for c in reference.columns}
    cur = {c["name"] for c in current.columns}
    if columns is None:
        common = [c["name"] for c in reference.columns if c["name"] in cur]
        if not common:
            raise invalid("The two versions have no column in common: nothing to compare", ["currentId"])
        return common
    if not columns:
        raise invalid("Name at least one column, or leave `columns` out to compare every common column", ["columns"])
    chosen: list[str] = []
    for index, name in enumerate(columns):
        if name not in ref and name not in cur:
            raise invalid(f"No column named {name!r} in either version", ["columns", str(index)])
        if name not in cur or name not in ref:
            raise invalid(
                f"Column {name!r} is not in the {'current' if name not in cur else 'reference'} version",
                ["columns", str(index)],
            )
        if name not in chosen:
            chosen.append(name)
    return chosen


def _method(value: str | None, field: list[str]) -> drift.DriftMethod | None:
    if value is None:
        return None
    try:
        return drift.DriftMethod(value)
    except ValueError:
        raise invalid(f"Unknown drift method {value!r}", field) from None


def plan_columns(
    reference: Dataset, current: Dataset, columns: list[str] | None, tests: list[TestRequest]
) -> list[dict[str, Any]]:
    """Each compared column with its kind and the user's test, checked: a method must fit the column's kind and a
    threshold must lie where its score does (without a method, in (0, 1], which fits every method)."""
    names = _chosen_columns(reference, current, columns)
    ref = {c["name"]: c for c in reference.columns}
    cur = {c["name"]: c for c in current.columns}
    kinds = {name: kind_of(ref[name]["dtype"], cur[name]["dtype"]) for name in names}
    chosen: dict[str | None, tuple[int, drift.DriftMethod | None, float | None]] = {}
    for index, test in enumerate(tests):
        at = ["tests", str(index)]
        if test.column is not None and test.column not in kinds:
            raise invalid(f"Column {test.column!r} is not compared", [*at, "column"])
        if test.column in chosen:
            raise invalid(
                f"Two tests for {'every column' if test.column is None else repr(test.column)}", [*at, "column"]
            )
        method = _method(test.method, [*at, "method"])
        if test.threshold is not None and not drift.valid_threshold(method or drift.DriftMethod.KS, test.threshold):
            unbounded = method in (drift.DriftMethod.PSI, drift.DriftMethod.WASSERSTEIN)
            raise invalid(
                f"Threshold {test.threshold} is out of range for "
                f"{method.value if method else 'a method chosen by default'}: "
                + ("it must be a positive number" if unbounded else "it needs 0 < threshold <= 1"),
                [*at, "threshold"],
            )
        chosen[test.column] = (index, method, test.threshold)
    effective = {name: chosen.get(name) or chosen.get(None) or (None, None, None) for name in names}
    for name, (test_index, method, _) in effective.items():  # a test naming a column wins over one for every column
        fits = drift.CATEGORICAL_METHODS | (drift.NUMERIC_METHODS if kinds[name] is ColumnKind.NUMERIC else set())
        if method is not None and method not in fits:
            raise invalid(
                f"{method.value} needs numbers; {name!r} is compared as categories "
                f"(use {', '.join(sorted(m.value for m in drift.CATEGORICAL_METHODS))})",
                ["tests", str(test_index), "method"],
            )
    planned = []
    for name in names:
        _, method, threshold = effective[name]
        planned.append(
            {
                "name": name,
                "kind": kinds[name].value,
                "reference_dtype": ref[name]["dtype"],
                "current_dtype": cur[name]["dtype"],
                "method": method.value if method else None,
                "threshold": threshold,
                "test": ref[name]["semantic_type"] != "IDENTIFIER" or name in chosen,
            }
        )
    return planned


async def start_comparison(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    reference_id: str | None,
    current_id: str | None,
    columns: list[str] | None,
    tests: list[TestRequest],
    data_dir: Path,
    sample_rows: int,
    theme: dict[str, str],
) -> Job:
    reference = await get_ready_dataset(session, owner_id=owner_id, dataset_id=reference_id, field="referenceId")
    current = await get_ready_dataset(session, owner_id=owner_id, dataset_id=current_id, field="currentId")
    planned = plan_columns(reference, current, columns, tests)
    return await jobs.submit(
        session,
        owner_id=owner_id,
        kind="COMPARE",
        dataset_id=current.id,
        params={
            "data_dir": str(data_dir),
            "comparison_id": new_id(),
            "reference_id": reference.id,
            "current_id": current.id,
            "reference_name": reference.name,
            "current_name": current.name,
            "columns": planned,
            "schema_difference": schema_difference(reference.columns, current.columns),
            "sample_rows": sample_rows,
            "theme": theme,
        },
    )


async def on_compare_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    if result is None:
        return
    found = ComparisonResult.model_validate(result)
    session.add(
        Comparison(
            id=job.params["comparison_id"],
            owner_id=job.owner_id,
            reference_id=job.params["reference_id"],
            current_id=job.params["current_id"],
            job_id=job.id,
            drift_share=found.drift_share,
            dataset_drift=found.dataset_drift,
            drifted_count=len(found.drifted_columns),
            tested_count=found.tested_columns,
            result=result,
        )
    )


async def on_compare_failure(session: AsyncSession, job: Job, _result: Any) -> None:
    """Nothing was stored; the report and overlays written so far go."""
    files.remove_tree(comparison_dir(files.job_data_dir(job.params), job.params["comparison_id"]))


async def get_comparison(session: AsyncSession, *, owner_id: str, comparison_id: str | None) -> Comparison | None:
    return await owned(session, Comparison, owner_id=owner_id, row_id=comparison_id)


async def list_comparisons(
    session: AsyncSession, *, owner_id: str, first: int, after: str | None, dataset_id: str | None, max_first: int
) -> Page[Comparison]:
    """The caller's comparisons, newest first; with `dataset_id`, those it is either side of."""
    filters = [col(Comparison.owner_id) == owner_id]
    if dataset_id is not None:
        filters.append(or_(col(Comparison.reference_id) == dataset_id, col(Comparison.current_id) == dataset_id))
    return await paginate(session, Comparison, filters=filters, first=first, after=after, max_first=max_first)


async def comparisons_for_jobs(session: AsyncSession, *, owner_id: str, jobs: list[Job]) -> dict[str, Comparison]:
    """By job id, the comparison each COMPARE job stored; in one query."""
    wanted = {job.id: (job.params or {}).get("comparison_id") for job in jobs if job.kind == "COMPARE"}
    rows = await owned_by_ids(session, Comparison, owner_id=owner_id, ids=wanted.values())
    return {job_id: rows[comparison_id] for job_id, comparison_id in wanted.items() if comparison_id in rows}


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "COMPARE": JobKindSpec(
        work="services.comparison.job:run_comparison",
        queue="analysis",
        hooks=JobHooks(on_success=on_compare_success, on_failure=on_compare_failure),
        result=ComparisonResult,
    )
}
