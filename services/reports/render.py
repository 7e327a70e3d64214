"""The HTML of a validated ReportDocument (the JSON-first path), and writing a report: document, then HTML.

Everything shown comes from the document, so the HTML and `Report.content` cannot disagree. The look (and the
deterministic fallback) is services/reports/html.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from services import files
from services.analysis.models import AutoAction, Finding
from services.reports.content import ReportDocument, build_document, content_path
from services.reports.html import (
    _confusion,
    _heatmap,
    _histogram,
    _img,
    _importances,
    _leaderboard,
    _model_heading,
    _png,
    _signature,
    _style,
    _table,
    render_report,
)


def _alerts(document: ReportDocument) -> str:
    alerts = [f'<div class="alert"><b>{escape(a.kind)}</b> {escape(a.message)}</div>' for a in document.alerts]
    return "<h2>Alerts</h2>" + ("".join(alerts) or "<p>No alerts.</p>")


def _critique(document: ReportDocument) -> str:
    if not document.critique:
        return (
            '<h2>Critique</h2><div class="alert ok">No QA finding: no leakage, imbalance, small data or split '
            "drift.</div>"
        )
    return "<h2>Critique</h2>" + "".join(
        f'<div class="alert {f.severity}"><b>{escape(f.kind)}</b> ({f.severity.lower()}) {escape(f.message)}</div>'
        for f in document.critique
    )


def _columns(document: ReportDocument, colour: str) -> str:
    cards = []
    for column in document.columns:
        rows: list[list[Any]] = [
            ["type", column.semantic_type],
            ["dtype", column.dtype],
            ["non-null", column.count],
            ["missing", f"{column.null_count:,} ({column.null_ratio:.1%})"],
            ["distinct", column.distinct_count],
        ]
        rows += [
            [key, getattr(column, key)]
            for key in ("mean", "std", "min", "median", "max")
            if getattr(column, key) is not None
        ]
        top = ", ".join(f"{escape(v.value)} ({v.count:,})" for v in column.top_values[:5])
        image = (
            _histogram({"name": column.name, "histogram": column.histogram.model_dump()}, colour)
            if column.histogram
            else None
        )
        cards.append(
            f'<div class="card"><h3>{escape(column.name)}</h3>'
            + _table(["", ""], rows)
            + (f"<p>Top values: {top}</p>" if top else "")
            + (_img(image, column.name) if image else "")
            + "</div>"
        )
    return '<h2>Columns</h2><div class="columns">' + "".join(cards) + "</div>"


def _model(document: ReportDocument, colour: str) -> str:
    model = document.model
    assert model is not None
    parts = [_model_heading(model.task, model.target, model.algorithm, model.version)]
    parts.append(
        _leaderboard(
            [
                [c.algorithm, c.metric, c.score, c.std, c.fit_seconds, "yes" if c.selected else ""]
                for c in model.leaderboard
            ]
        )
    )
    parts.append(
        "<h3>Held-out metrics</h3>" + _table([m.name for m in model.metrics], [[m.value for m in model.metrics]])
    )
    if model.confusion_matrix:
        parts.append(
            "<h3>Confusion matrix</h3>" + _img(_confusion(model.confusion_matrix.model_dump()), "confusion matrix")
        )
    if model.feature_importances:
        importances = model.feature_importances
        parts.append(_importances([f.feature for f in importances], [f.importance for f in importances], colour))
    parts.append(
        _signature(
            [
                [
                    f.name,
                    f.semantic_type,
                    "yes" if f.required else "no",
                    ", ".join(f.allowed_values)
                    if f.allowed_values
                    else (f"{f.min} – {f.max}" if f.min is not None else ""),
                ]
                for f in model.signature
            ]
        )
    )
    return "".join(parts)


def render_document(document: ReportDocument, theme: dict[str, str]) -> str:
    colour = theme["primary"]
    parts = [
        f"<h1>{escape(document.title)}</h1>",
        f'<p class="muted">Generated {escape(document.generated_at.strftime("%Y-%m-%d %H:%M UTC"))} by Assay.</p>',
    ]
    if theme.get("logo_url"):
        parts.insert(0, f'<img class="logo" src="{escape(theme["logo_url"], quote=True)}" alt="logo">')
    if document.overview:
        o = document.overview
        parts.append(
            "<h2>Overview</h2>"
            + _table(
                ["rows", "columns", "missing cells", "duplicate rows", "memory"],
                [
                    [
                        o.rows,
                        o.columns,
                        f"{o.missing_cells:,} ({o.missing_ratio:.1%})",
                        o.duplicate_rows,
                        f"{o.memory_bytes / 2**20:,.1f} MB",
                    ]
                ],
            )
        )
    if document.notes:
        parts.append("<h2>Notes</h2>" + "".join(f'<div class="alert">{escape(n)}</div>' for n in document.notes))
    if document.auto_actions:
        parts.append(
            "<h2>Automatic fixes</h2>"
            + _table(
                ["fix", "columns", "rows", "why"],
                [[a.kind, ", ".join(a.columns), a.rows, a.reason] for a in document.auto_actions],
            )
        )
    parts.append(_alerts(document))
    parts.append(_columns(document, colour))
    correlations = document.correlations
    parts.append(
        "<h2>Correlations</h2>"
        + (
            _img(_heatmap(correlations.columns, correlations.values, "Pearson"), "correlation heatmap")
            if correlations
            else "<p>Fewer than two numeric columns.</p>"
        )
    )
    parts.append(
        "<h2>Missing values</h2>"
        + (
            _table(
                ["columns missing together", "rows", "share"],
                [[", ".join(p.columns), p.count, f"{p.ratio:.1%}"] for p in document.missing_patterns],
            )
            if document.missing_patterns
            else "<p>Nothing is missing.</p>"
        )
    )
    if document.model:
        parts.append(_model(document, colour))
    if document.why:
        from services.reports.why import why_section

        parts.append(why_section(document.why.model_dump(), colour, _png))
    if document.model is not None or document.critique:
        parts.append(_critique(document))
    if document.timings:
        parts.append(
            "<h2>Stage timings</h2>" + _table(["stage", "seconds"], [[t.stage, t.seconds] for t in document.timings])
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(document.title)}</title><style>{_style(theme)}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def write_report(
    *,
    data_dir: Path,
    report_id: str,
    title: str,
    profile: dict[str, Any],
    model: dict[str, Any] | None,
    timings: list[dict[str, Any]],
    theme: dict[str, str],
    why: dict[str, Any] | None = None,
    critique: list[Finding] | None = None,
    auto_actions: list[AutoAction] | None = None,
    notes: list[str] | None = None,
    log: Callable[..., None],
) -> ReportDocument:
    """Build and validate the document, render it (or fall back), and write the document, then the HTML: a report
    is listed once its HTML exists, and by then its content is there too."""
    document, fallback = build_document(
        title=title,
        profile=profile,
        model=model,
        timings=timings,
        why=why,
        critique=critique,
        auto_actions=auto_actions,
        notes=notes,
    )
    if fallback is None:
        html = render_document(document, theme)
    else:
        log(f"{fallback}: the deterministic renderer wrote the report", "WARNING")
        alerts = [f"{f.kind}: {f.message}" for f in critique or []]
        html = render_report(
            title=title,
            profile=profile,
            model=model,
            timings=timings,
            theme=theme,
            why=why,
            extra_alerts=alerts,
            fallback_reason=fallback,
        )
    with files.atomic_output(content_path(data_dir, report_id)) as temporary:
        temporary.write_text(document.model_dump_json(), encoding="utf-8")
    with files.atomic_output(files.report_path(data_dir, report_id)) as temporary:
        temporary.write_text(html, encoding="utf-8")
    log(f"Wrote the report ({len(html.encode()):,} bytes, {document.renderer} renderer)")
    return document
