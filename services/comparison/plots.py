"""PNG overlays of a comparison: per numeric column the two histograms over the same bins (as shares, overlaid),
per categorical column the top categories' shares side by side. Drawn by the COMPARE job from the statistics it
stored, with matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from services import files
from services.comparison.models import ColumnComparison, ColumnKind
from services.profiling.columns import Histogram

MAX_PLOTS = 100  # overlays drawn per comparison (the first compared columns); the statistics cover all
SAFE_NAME = re.compile(r"^overlay_\d+\.png$")  # the only names the download route opens
REFERENCE_COLOUR, CURRENT_COLOUR = "#4c72b0", "#dd8452"


def plot_name(index: int) -> str:
    """Named by the column's position, never by its (user-given) name."""
    return f"overlay_{index}.png"


def _label(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def draw_overlay(column: ColumnComparison, histograms: tuple[Histogram, Histogram] | None) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 3))
    axis = figure.subplots()
    verdict = "" if column.drift is None else (" — drift" if column.drift.drifted else " — no drift")
    axis.set_title(_label(column.name) + verdict, fontsize=10)
    if column.kind is ColumnKind.NUMERIC and histograms is not None:
        for histogram, colour, label in (
            (histograms[0], REFERENCE_COLOUR, "reference"),
            (histograms[1], CURRENT_COLOUR, "current"),
        ):
            edges, counts = np.array(histogram["edges"]), np.array(histogram["counts"], dtype=float)
            shares = counts / counts.sum() if counts.sum() else counts
            axis.bar(edges[:-1], shares, width=np.diff(edges), align="edge", color=colour, alpha=0.5, label=label)
        axis.set_ylabel("share of rows")
    else:
        labels = []
        for entry in column.reference.top + column.current.top:
            if entry.value not in labels:
                labels.append(entry.value)
        ref = {e.value: e.ratio for e in column.reference.top}
        cur = {e.value: e.ratio for e in column.current.top}
        positions = np.arange(len(labels))
        axis.bar(
            positions - 0.2, [ref.get(v, 0.0) for v in labels], width=0.4, color=REFERENCE_COLOUR, label="reference"
        )
        axis.bar(positions + 0.2, [cur.get(v, 0.0) for v in labels], width=0.4, color=CURRENT_COLOUR, label="current")
        axis.set_xticks(positions, [_label(str(v), 14) for v in labels], rotation=45, ha="right", fontsize=8)
        axis.set_ylabel("share of values")
    axis.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def write_png(folder: Path, name: str, content: bytes) -> None:
    with files.atomic_output(folder / name) as temporary:
        temporary.write_bytes(content)
