"""safeAutoActions: the conservative fixes an analysis may apply itself, each with its reason, applied to a NEW
dataset version (a child of the analysed one, as preprocessDataset makes) so the original stays untouched and
the fixes are undone by analysing the parent again.

Only fixes that cannot change what the data says are taken: identifiers and constant columns carry no signal,
exact duplicate rows only weigh some rows twice, and a column other than the target missing a few values is
filled with its median (numbers) or its most frequent value. The target itself is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services import files
from services.analysis.models import AutoAction, AutoActionKind
from services.preprocessing.job import preprocess_table
from services.preprocessing.validate import validate_steps

FEW_NULLS = 0.05  # a column missing at most this share of its values is imputed; more is a decision for a person
NEARLY_UNIQUE = 0.95  # an id-named column this distinct is an identifier even when duplicate rows repeat some ids
ID_NAME = re.compile(r"(^|_)(id|uuid|guid|key|code)$|^id", re.IGNORECASE)  # as ingest's identifier detection


def _id_like(stats: dict[str, Any], semantic: str | None) -> bool:
    if semantic == "IDENTIFIER":
        return True
    count = stats.get("count") or 0
    return (
        semantic in ("CATEGORICAL", "TEXT", "NUMERIC")
        and count >= 50
        and bool(ID_NAME.search(stats["name"]))
        and not str(stats.get("dtype", "")).startswith("float")
        and stats["distinct_count"] >= NEARLY_UNIQUE * count
    )


def plan_actions(profile: dict[str, Any], columns: list[dict[str, Any]], target: str) -> list[AutoAction]:
    """The actions this table warrants, in the order they run (duplicates first: over every original column)."""
    types = {c["name"]: c["semantic_type"] for c in columns}
    actions: list[AutoAction] = []
    if profile.get("duplicate_rows"):
        actions.append(
            AutoAction(
                kind="DROP_DUPLICATE_ROWS",
                rows=int(profile["duplicate_rows"]),
                reason=f"{profile['duplicate_rows']:,} row(s) repeat another row exactly; a copy "
                "only weighs that row twice",
                step={"step": "dropDuplicates", "params": {}},
            )
        )
    dropped: set[str] = set()
    for stats in profile["columns"]:
        name = stats["name"]
        if name == target:
            continue
        if _id_like(stats, types.get(name)):
            drop = AutoActionKind.DROP_ID_COLUMN
            distinct = f"{stats['distinct_count']:,} distinct values"
            reason = f"{name} is an identifier ({distinct}): it names rows, it cannot generalise"
        elif stats["distinct_count"] <= 1:
            drop = AutoActionKind.DROP_CONSTANT_COLUMN
            held = "one value" if stats["distinct_count"] else "no value"
            reason = f"{name} holds {held} in every row: it cannot tell rows apart"
        else:
            continue
        dropped.add(name)
        actions.append(
            AutoAction(
                kind=drop,
                columns=[name],
                reason=reason,
                step={"step": "dropColumns", "params": {"columns": [name]}},
            )
        )
    for stats in profile["columns"]:
        name, kind = stats["name"], types.get(stats["name"])
        if name == target or name in dropped or not stats["null_count"] or stats["null_ratio"] > FEW_NULLS:
            continue
        strategy = "MEDIAN" if kind == "NUMERIC" else "MODE" if kind in ("CATEGORICAL", "BOOLEAN") else None
        if strategy is None:
            continue
        actions.append(
            AutoAction(
                kind="IMPUTE_COLUMN",
                columns=[name],
                rows=int(stats["null_count"]),
                reason=f"{name} misses {stats['null_count']:,} value(s) ({stats['null_ratio']:.1%}, at "
                f"most {FEW_NULLS:.0%}) and is not the target: filled with its "
                f"{strategy.lower()}",
                step={"step": "impute", "params": {"strategy": strategy, "columns": [name]}},
            )
        )
    return actions


def apply_actions(
    *,
    data_dir: Path,
    source_id: str,
    version_id: str,
    columns: list[dict[str, Any]],
    actions: list[AutoAction],
    memory_mb: int,
    scratch_dir: Path | None,
    log: Callable[..., None],
    checkpoint: Callable[[], None],
) -> dict[str, Any]:
    """Write the new version through the preprocessing steps (checked as preprocessDataset checks them)."""
    steps = validate_steps([(a.step["step"], a.step["params"]) for a in actions], columns)
    result = preprocess_table(
        files.parquet_path(data_dir, source_id),
        files.parquet_path(data_dir, version_id),
        steps,
        memory_mb=memory_mb,
        scratch_dir=scratch_dir,
        log=log,
        checkpoint=checkpoint,
    )
    for action in actions:
        log(f"Auto-action {action.kind} {', '.join(action.columns)}: {action.reason}")
    return result
