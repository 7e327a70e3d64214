"""How results look on a terminal: aligned tables and short summaries (the --json output is the data itself)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tabulate import tabulate


def table(rows: Iterable[Iterable[Any]], headers: list[str]) -> str:
    return tabulate(list(rows), headers=headers, tablefmt="simple", disable_numparse=True, missingval="")


def number(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def size(nbytes: float | None) -> str:
    if nbytes is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def dataset_heading(dataset: dict) -> str:
    shape = (
        f"{dataset['rowCount']:,} rows x {dataset['columnCount']} columns"
        if dataset.get("rowCount") is not None
        else dataset["status"]
    )
    return f"Dataset {dataset['id']}  {dataset['name']}  {shape}"


def columns_table(columns: list[dict]) -> str:
    return table(
        ([c["name"], c["semanticType"], c["dtype"], c["nullCount"]] for c in columns),
        ["column", "type", "dtype", "nulls"],
    )


def alerts_lines(alerts: list[dict]) -> str:
    return "\n".join(f"  {a['kind']}: {a['message']}" for a in alerts) or "  none"


def datasets_table(datasets: list[dict]) -> str:
    return table(
        (
            [
                d["id"],
                d["name"],
                d["status"],
                number(d["rowCount"]),
                number(d["columnCount"]),
                size(d["sizeBytes"]),
                d["createdAt"][:19],
            ]
            for d in datasets
        ),
        ["id", "name", "status", "rows", "columns", "size", "created"],
    )


def jobs_table(jobs: list[dict]) -> str:
    return table(
        (
            [j["id"], j["kind"], j["status"], j["stage"] or "", f"{j['progress']:.0%}", j["createdAt"][:19]]
            for j in jobs
        ),
        ["id", "kind", "status", "stage", "progress", "created"],
    )


def profile_summary(dataset: dict) -> str:
    profile = dataset["profile"]
    head = (
        f"Profile of {dataset['name']} ({dataset['id']}): {profile['rowCount']:,} rows x {profile['columnCount']} "
        f"columns, {profile['missingCellsRatio']:.1%} cells missing, {profile['duplicateRows']:,} duplicate rows, "
        f"{size(profile['memoryBytes'])} in memory"
    )

    def detail(column: dict) -> str:
        numeric = column.get("numeric")
        if numeric:
            return f"mean {number(numeric['mean'])}  min {number(numeric['min'])}  max {number(numeric['max'])}"
        return "top " + ", ".join(f"{v['value']} ({v['count']})" for v in column["topValues"])

    columns = table(
        (
            [c["name"], c["semanticType"], f"{c['nullRatio']:.1%}", c["distinctCount"], detail(c)]
            for c in profile["columns"]
        ),
        ["column", "type", "nulls", "distinct", "summary"],
    )
    return f"{head}\n\n{columns}\n\nAlerts:\n{alerts_lines(profile['alerts'])}"


def model_summary(model: dict) -> str:
    metrics = ", ".join(
        f"{name} {number(value)}" for name, value in (model.get("metrics") or {}).items() if value is not None
    )
    board = table(
        (
            [
                ("*" if c["selected"] else ""),
                c["algorithm"],
                number(c["score"]),
                number(c["std"]),
                number(c["fitSeconds"], 3),
                number(c["rows"]),
            ]
            for c in model["leaderboard"]
        ),
        ["", "algorithm", f"cv {model.get('cvMetric') or 'score'}", "std", "fit s", "rows"],
    )
    return (
        f"Model {model['id']}  {model['name']} v{model['version']}: {model['task']} of {model['target']} with "
        f"{model['algorithm']} ({model['status']})\nHeld-out metrics: {metrics or 'none'}\n\nLeaderboard:\n{board}"
    )


def history_table(events: list[dict]) -> str:
    """A registered model's history, newest first: who moved which alias from where to where, and why."""

    def change(event: dict) -> str:
        if event["kind"] == "REGISTERED":
            return f"registered version {event['toVersion']}"
        if event["kind"] == "ALIAS_DELETED":
            return f"deleted {event['alias']} (was {event['fromVersion']})"
        before = event["fromVersion"]
        return f"{event['alias']} -> {event['toVersion']}" + (f" (was {before})" if before is not None else "")

    return table(
        ([e["at"], e["actorEmail"], change(e), e["comment"]] for e in events), ["when", "who", "change", "comment"]
    )


def comparison_summary(comparison: dict) -> str:
    """The verdict first, then the drifted columns, the schema changes and the report's link."""
    verdict = "DRIFT" if comparison["datasetDrift"] else "NO DRIFT"
    lines = [
        (
            f"{verdict}: {len(comparison['driftedColumns'])} of {comparison['testedColumns']} tested column(s) drifted "
            f"({comparison['driftShare']:.0%}; the dataset drifts at {comparison['shareThreshold']:.0%})"
        ),
        f"Reference: {comparison['reference']['name']}  Current: {comparison['current']['name']}",
    ]
    drifted = [c for c in comparison["columns"] if c["drift"] and c["drift"]["drifted"]]
    if drifted:
        lines.append("Drifted columns:")
        lines += [
            f"  {c['name']}: {c['drift']['method']} {c['drift']['score']:.4g} (threshold {c['drift']['threshold']:g})"
            for c in drifted
        ]
    schema = comparison["schemaDifference"]
    for label, entries in (("Added", schema["added"]), ("Dropped", schema["dropped"])):
        if entries:
            lines.append(f"{label}: " + ", ".join(c["name"] for c in entries))
    if schema["typeChanged"]:
        lines.append(
            "Type changed: "
            + ", ".join(f"{c['name']} ({c['referenceDtype']} -> {c['currentDtype']})" for c in schema["typeChanged"])
        )
    sampling = comparison["sampling"]
    if sampling["sampled"]:
        lines.append(f"Tests read a sample of at most {sampling['sampleRows']:,} rows per side")
    lines.append(f"Comparison: {comparison['id']} (`assay download {comparison['id']}` saves the report)")
    lines.append(f"Report: {comparison['reportUrl']}")
    return "\n".join(lines)


def webhooks_table(webhooks: list[dict]) -> str:
    def events(hook: dict) -> str:
        narrowed = [*hook["jobKinds"], *hook["jobStatuses"]]
        return ",".join(hook["events"]) + (f" ({','.join(narrowed)})" if narrowed else "")

    return table(
        ([h["id"], h["url"], events(h), "yes" if h["enabled"] else "paused"] for h in webhooks),
        ["id", "url", "events", "enabled"],
    )


def deliveries_table(deliveries: list[dict]) -> str:
    """A webhook's delivery log, newest first: what was sent, how it went, and when it is tried next."""
    return table(
        (
            [
                d["createdAt"],
                d["deliveryId"],
                d["event"],
                d["status"],
                d["attempts"],
                d["responseCode"],
                d["lastError"],
                d["nextAttemptAt"],
            ]
            for d in deliveries
        ),
        ["when", "delivery id", "event", "status", "attempts", "code", "last error", "next attempt"],
    )
