"""One self-contained HTML report: inline CSS, plots as base64 PNG, every data text escaped."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from html import escape
from typing import Any

import matplotlib
from matplotlib.figure import Figure  # picks no backend: pyplot, below, does

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

MAX_COLUMN_SECTIONS = 40


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{escape(alt)}">'


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return escape(f"{value:,}" if isinstance(value, int) else str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_number(c) if not isinstance(c, str) else escape(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _histogram(column: dict[str, Any], colour: str) -> str | None:
    histogram = column.get("histogram")
    if not histogram:
        return None
    figure, axis = plt.subplots(figsize=(4.5, 2.4))
    edges = np.array(histogram["edges"])
    try:  # values near the float limit give edges matplotlib cannot lay out: the card goes without its picture
        axis.bar(edges[:-1], histogram["counts"], width=np.diff(edges), align="edge", color=colour)
        axis.set_title(column["name"][:40], fontsize=9)
        return _png(figure)
    except (ValueError, OverflowError):
        plt.close(figure)
        return None


def _heatmap(names: list[str], matrix: list[list[float | None]], title: str) -> str:
    size = max(3.5, 0.4 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(np.array(matrix, dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    axis.set_xticks(range(len(names)), [n[:16] for n in names], rotation=90, fontsize=7)
    axis.set_yticks(range(len(names)), [n[:16] for n in names], fontsize=7)
    figure.colorbar(image, ax=axis, shrink=0.7)
    axis.set_title(title, fontsize=9)
    return _png(figure)


def _bars(labels: list[str], values: list[float], title: str, colour: str) -> str:
    figure, axis = plt.subplots(figsize=(5, max(1.8, 0.3 * len(labels) + 0.8)))
    axis.barh(range(len(labels)), values, color=colour)
    axis.set_yticks(range(len(labels)), [label[:30] for label in labels], fontsize=7)
    axis.invert_yaxis()
    axis.set_title(title, fontsize=9)
    return _png(figure)


def _confusion(matrix: dict[str, Any]) -> str:
    labels = matrix["labels"]
    figure, axis = plt.subplots(figsize=(max(3, 0.5 * len(labels) + 2),) * 2)
    axis.imshow(np.array(matrix["values"]), cmap="Blues")
    for i, row in enumerate(matrix["values"]):
        for j, value in enumerate(row):
            axis.text(j, i, str(value), ha="center", va="center", fontsize=8)
    axis.set_xticks(range(len(labels)), [label[:12] for label in labels], rotation=45, fontsize=7)
    axis.set_yticks(range(len(labels)), [label[:12] for label in labels], fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    return _png(figure)


THEME_FALLBACKS = {"surface": "#f6f8fa", "muted": "#6a737d", "ok": "#2e7d32", "warn": "#b26a00", "error": "#c62828"}


def _style(theme: dict[str, str]) -> str:
    theme = {**THEME_FALLBACKS, **theme}  # a job queued before the newer tokens existed
    return f"""
body {{ font-family: {theme["font_family"]}; background: {theme["background"]}; color: {theme["text"]};
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; line-height: 1.45; }}
h1, h2, h3 {{ color: {theme["primary"]}; }}
h2 {{ border-bottom: 2px solid {theme["accent"]}; padding-bottom: .2rem; margin-top: 2.2rem; }}
table {{ border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }}
th, td {{ border: 1px solid {theme["muted"]}; padding: .25rem .55rem; text-align: left; vertical-align: top; }}
th {{ background: {theme["primary"]}; color: {theme["background"]}; }}
.alert {{ border-left: 4px solid {theme["accent"]}; padding: .2rem .6rem; margin: .3rem 0;
         background: {theme["surface"]}; }}
.alert.INFO, .alert.ok {{ border-left-color: {theme["ok"]}; }}
.alert.WARNING {{ border-left-color: {theme["warn"]}; }}
.alert.CRITICAL, .alert.fallback {{ border-left-color: {theme["error"]}; }}
.muted, footer {{ color: {theme["muted"]}; }}
.columns {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }}
.card {{ border: 1px solid {theme["muted"]}; border-radius: 6px; padding: .6rem .8rem;
        background: {theme["surface"]}; }}
.logo {{ max-height: 48px; float: right; }}
img {{ max-width: 100%; }}
"""


def render_report(
    *,
    title: str,
    profile: dict[str, Any],
    model: dict[str, Any] | None,
    timings: list[dict[str, Any]],
    theme: dict[str, str],
    extra_alerts: list[str] | None = None,
    why: dict[str, Any] | None = None,
    fallback_reason: str | None = None,
) -> str:
    """The deterministic renderer: straight from the profile and the model, no document in between. A report
    that fell back to it says why at the top (`fallback_reason`)."""
    colour = theme["primary"]
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Generated {escape(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} by Assay.</p>",
    ]
    if fallback_reason:
        parts.append(
            f'<div class="alert fallback"><b>Deterministic renderer</b> {escape(fallback_reason)}; this '
            "report was drawn straight from the profile instead.</div>"
        )
    if theme.get("logo_url"):
        parts.insert(0, f'<img class="logo" src="{escape(theme["logo_url"], quote=True)}" alt="logo">')
    parts.append(
        "<h2>Overview</h2>"
        + _table(
            ["rows", "columns", "missing cells", "duplicate rows", "memory"],
            [
                [
                    profile["row_count"],
                    profile["column_count"],
                    f"{profile['missing_cells']:,} ({profile['missing_cells_ratio']:.1%})",
                    profile["duplicate_rows"],
                    f"{profile['memory_bytes'] / 2**20:,.1f} MB",
                ]
            ],
        )
    )
    alerts = [f'<div class="alert"><b>{escape(a["kind"])}</b> {escape(a["message"])}</div>' for a in profile["alerts"]]
    alerts += [f'<div class="alert"><b>QA</b> {escape(text)}</div>' for text in extra_alerts or []]
    parts.append("<h2>Alerts</h2>" + ("".join(alerts) or "<p>No alerts.</p>"))
    cards = []
    for column in profile["columns"][:MAX_COLUMN_SECTIONS]:
        rows = [
            ["type", column["semantic_type"]],
            ["dtype", column["dtype"]],
            ["non-null", column["count"]],
            ["missing", f"{column['null_count']:,} ({column['null_ratio']:.1%})"],
            ["distinct", column["distinct_count"]],
        ]
        numeric = column.get("numeric") or {}
        rows += [[key, numeric.get(key)] for key in ("mean", "std", "min", "median", "max") if key in numeric]
        top = ", ".join(f"{escape(str(v['value']))} ({v['count']:,})" for v in column.get("top_values", [])[:5])
        image = _histogram(column, colour)
        cards.append(
            f'<div class="card"><h3>{escape(column["name"])}</h3>'
            + _table(["", ""], rows)
            + (f"<p>Top values: {top}</p>" if top else "")
            + (_img(image, column["name"]) if image else "")
            + "</div>"
        )
    parts.append('<h2>Columns</h2><div class="columns">' + "".join(cards) + "</div>")
    names = profile["correlations"]["columns"]["PEARSON"]
    matrix = profile["correlations"]["values"].get("PEARSON")
    parts.append(
        "<h2>Correlations</h2>"
        + (
            _img(_heatmap(names, matrix, "Pearson"), "correlation heatmap")
            if matrix
            else "<p>Fewer than two numeric columns.</p>"
        )
    )
    patterns = profile["missing_patterns"][:10]
    parts.append(
        "<h2>Missing values</h2>"
        + (
            _table(
                ["columns missing together", "rows", "share"],
                [[", ".join(p["columns"]), p["count"], f"{p['ratio']:.1%}"] for p in patterns],
            )
            if patterns
            else "<p>Nothing is missing.</p>"
        )
    )
    if model:
        parts.append(_model_section(model, colour))
    if why and why.get("rows"):
        from services.reports.why import why_section

        parts.append(why_section(why, colour, _png))
    if timings:
        parts.append(
            "<h2>Stage timings</h2>"
            + _table(["stage", "seconds"], [[t["stage"], (t.get("duration_ms") or 0) / 1000] for t in timings])
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_style(theme)}</style></head><body>" + "".join(parts) + "</body></html>"
    )


def _model_heading(task: str, target: str, algorithm: str, version: int) -> str:
    """The model part's opening, the same for the document's renderer (services/reports/render.py) and this one."""
    return (
        f"<h2>Model</h2><p>{escape(task.lower())} of <b>{escape(target)}</b> with "
        f"<b>{escape(algorithm)}</b> (version {version}).</p>"
    )


def _leaderboard(rows: list[list[Any]]) -> str:
    return "<h3>Leaderboard</h3>" + _table(
        ["algorithm", "metric", "CV score", "std", "seconds per fit", "selected"], rows
    )


def _importances(features: list[str], importances: list[float], colour: str) -> str:
    chart = _bars(features, importances, "Permutation importance", colour)
    return "<h3>Feature importances</h3>" + _img(chart, "feature importances")


def _signature(rows: list[list[Any]]) -> str:
    return "<h3>Signature</h3>" + _table(["feature", "type", "required", "allowed values / range"], rows)


def _model_section(model: dict[str, Any], colour: str) -> str:
    details = model["details"]
    parts = [_model_heading(model["task"], model["target"], model["algorithm"], model["version"])]
    parts.append(
        _leaderboard(
            [
                [c["algorithm"], c["metric"], c["score"], c["std"], c["fit_seconds"], "yes" if c["selected"] else ""]
                for c in details["leaderboard"]
            ]
        )
    )
    metrics = {k: v for k, v in details["metrics"].items() if v is not None}
    parts.append("<h3>Held-out metrics</h3>" + _table(list(metrics), [list(metrics.values())]))
    if details.get("confusion_matrix"):
        parts.append("<h3>Confusion matrix</h3>" + _img(_confusion(details["confusion_matrix"]), "confusion matrix"))
    importances = details.get("feature_importances", [])[:15]
    if importances:
        parts.append(_importances([f["feature"] for f in importances], [f["importance"] for f in importances], colour))
    parts.append(
        _signature(
            [
                [
                    f["name"],
                    f["semantic_type"],
                    "yes" if f["required"] else "no",
                    ", ".join(f["allowed_values"][:10])
                    if f.get("allowed_values")
                    else (f"{_number(f['min'])} – {_number(f['max'])}" if f.get("min") is not None else ""),
                ]
                for f in details["features"]
            ]
        )
    )
    return "".join(parts)
