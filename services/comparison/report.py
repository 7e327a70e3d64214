"""The comparison's self-contained HTML report: verdict, schema differences, per column the two sides'
statistics and drift test, and the overlays inline (base64 PNG). Every data text is escaped."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html import escape

from services.comparison.models import ColumnComparison, ComparisonResult
from services.reports.html import _style, _table  # the analysis report's look, so both read alike


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:,.4g}"


def _column_card(column: ColumnComparison, png: bytes | None) -> str:
    ref, cur = column.reference, column.current
    rows = [
        ["dtype", column.reference_dtype, column.current_dtype],
        ["rows", f"{ref.rows:,}", f"{cur.rows:,}"],
        ["non-null", f"{ref.count:,}", f"{cur.count:,}"],
        ["missing", f"{ref.nulls:,} ({ref.null_ratio:.1%})", f"{cur.nulls:,} ({cur.null_ratio:.1%})"],
        ["distinct", _fmt(ref.distinct), _fmt(cur.distinct)],
    ]
    rows.extend(
        [key, _fmt(getattr(ref, key)), _fmt(getattr(cur, key))]
        for key in ("mean", "std", "min", "p5", "q1", "median", "q3", "p95", "max")
        if getattr(ref, key) is not None or getattr(cur, key) is not None
    )
    if ref.top or cur.top:
        rows.append(
            [
                "top",
                ", ".join(f"{e.value} ({e.ratio:.1%})" for e in ref.top[:5]),
                ", ".join(f"{e.value} ({e.ratio:.1%})" for e in cur.top[:5]),
            ]
        )
    test = column.drift
    if test is None:
        verdict = f"<p>Not tested: {escape(column.note or '')}</p>"
    else:
        score = "p-value" if test.p_value is not None else "distance"
        verdict = (
            f"<p><b>{'Drift' if test.drifted else 'No drift'}</b>: {escape(test.method)} "
            f"statistic {_fmt(test.statistic)}, {score} {_fmt(test.score)} against threshold "
            f"{_fmt(test.threshold)} ({test.reference_count:,} vs {test.current_count:,} values; "
            f"{'chosen by you' if test.chosen_by == 'USER' else 'default for its type and size'})</p>"
        )
    image = (
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{escape(column.name)}">' if png else ""
    )
    return (
        f'<div class="card"><h3>{escape(column.name)} <small>({column.kind.value.lower()})</small></h3>'
        + _table(["", "reference", "current"], rows)
        + verdict
        + image
        + "</div>"
    )


def render_comparison(
    *, reference_name: str, current_name: str, result: ComparisonResult, theme: dict[str, str], pngs: dict[str, bytes]
) -> str:
    title = f"Comparison of {reference_name} (reference) and {current_name} (current)"
    verdict = "Dataset drift" if result.dataset_drift else "No dataset drift"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Generated {escape(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} by Assay.</p>",
        (
            f"<h2>Verdict</h2><p><b>{verdict}</b>: {len(result.drifted_columns)} of {result.tested_columns} tested "
            f"column(s) drifted ({result.drift_share:.0%}; the dataset drifts at {result.share_threshold:.0%}).</p>"
        ),
    ]
    if result.drifted_columns:
        parts.append("<p>Drifted: " + ", ".join(escape(name) for name in result.drifted_columns) + "</p>")
    sampling = result.sampling
    parts.append(
        "<p>"
        + (
            f"Drift tests read a seeded reservoir sample of at most {sampling.sample_rows:,} rows per side "
            f"({sampling.reference_test_rows:,} of {sampling.reference_rows:,} reference rows, "
            f"{sampling.current_test_rows:,} of {sampling.current_rows:,} current rows)."
            if sampling.sampled
            else f"Drift tests read every row ({sampling.reference_rows:,} reference, "
            f"{sampling.current_rows:,} current)."
        )
        + ("" if sampling.quantiles_exact else " Quantiles are T-Digest estimates (within 1% of rank).")
        + "</p>"
    )
    schema = result.schema_difference
    rows = (
        [["added", c.name, "", c.dtype] for c in schema.added]
        + [["dropped", c.name, c.dtype, ""] for c in schema.dropped]
        + [["type changed", c.name, c.reference_dtype, c.current_dtype] for c in schema.type_changed]
    )
    parts.append(
        "<h2>Schema</h2>"
        + (_table(["change", "column", "reference", "current"], rows) if rows else "<p>Same columns and types.</p>")
    )
    summary = [
        [
            c.name,
            c.kind.value,
            c.drift.method if c.drift else "–",
            _fmt(c.drift.score) if c.drift else "–",
            _fmt(c.drift.threshold) if c.drift else "–",
            ("drift" if c.drift.drifted else "no drift") if c.drift else "not tested",
        ]
        for c in result.columns
    ]
    parts.append(
        "<h2>Drift by column</h2>" + _table(["column", "kind", "method", "score", "threshold", "verdict"], summary)
    )
    cards = [_column_card(column, pngs.get(column.plot) if column.plot else None) for column in result.columns]
    parts.append('<h2>Columns</h2><div class="columns">' + "".join(cards) + "</div>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_style(theme)}</style></head><body>" + "".join(parts) + "</body></html>"
    )
