"""PNG plots of a profile, drawn on first request from the stored profile alone, then kept.

The PROFILE job only lists the plots (`plot_list`), so it ends as soon as the statistics are stored;
the download route calls `ensure_plot`, which draws the one PNG asked for from the stored histograms,
quartiles, correlation matrix and sampled missing-value rows — never from the table — and keeps it
beside the profile until the next profile replaces them. Matplotlib is imported on first use and its
object API (no pyplot state) is used, so drawing is safe in a server thread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from services import files

if TYPE_CHECKING:
    from matplotlib.figure import Figure as FigureType


def plot_file_name(kind: str, index: int | None = None) -> str:
    """Names come from the kind and the column's position, never from its (user-given) name."""
    return f"{kind.lower()}{'' if index is None else f'_{index}'}.png"


def plot_list(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The plots a profile offers: a histogram and a box plot per numeric column, the correlation heatmap and
    the missing-values matrix."""
    plots: list[dict[str, Any]] = []
    for index, column in enumerate(profile["columns"]):
        if column.get("numeric") and column.get("histogram"):
            plots.append({"kind": "HISTOGRAM", "column": column["name"], "file": plot_file_name("HISTOGRAM", index)})
            plots.append({"kind": "BOX", "column": column["name"], "file": plot_file_name("BOX", index)})
    if profile["correlations"]["values"].get("PEARSON"):
        plots.append({"kind": "CORRELATION_HEATMAP", "column": None, "file": plot_file_name("CORRELATION_HEATMAP")})
    plots.append({"kind": "MISSING_MATRIX", "column": None, "file": plot_file_name("MISSING_MATRIX")})
    return plots


def ensure_plot(data_dir: Path, dataset_id: str, name: str) -> Path | None:
    """The PNG `name` of the dataset's current profile, drawn now if it is not drawn yet; None if it has none."""
    source = files.fetched(files.profile_path(data_dir, dataset_id))
    target = files.plots_dir(data_dir, dataset_id) / name
    try:
        stamp = source.stat().st_mtime_ns
        profile = json.loads(source.read_text())
    except FileNotFoundError:
        return None
    entry = next((p for p in profile.get("plots", []) if p["file"] == name), None)
    if entry is None:
        return None
    try:  # drawn for this profile (or by a job from before plots were drawn lazily, which drew them all)
        if target.stat().st_mtime_ns >= stamp or "missing_matrix" not in profile:
            return target
    except FileNotFoundError:
        pass
    draw_plot(profile, entry, target)
    return target


def _label(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _save(figure: FigureType, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_output(target) as temporary:
        figure.savefig(temporary, format="png", dpi=90, bbox_inches="tight")


def draw_plot(profile: dict[str, Any], entry: dict[str, Any], target: Path) -> None:
    from matplotlib.figure import Figure  # the object API: no global pyplot state, safe in threads

    kind = entry["kind"]
    # the column a HISTOGRAM or BOX plot is of (a plot of the whole table names none)
    column: dict[str, Any] = next((c for c in profile["columns"] if c["name"] == entry["column"]), {})
    if kind == "HISTOGRAM":
        figure = Figure(figsize=(5, 3))
        axis = figure.subplots()
        edges = np.array(column["histogram"]["edges"])
        axis.bar(edges[:-1], column["histogram"]["counts"], width=np.diff(edges), align="edge", color="#4c72b0")
        axis.set_title(_label(column["name"]), fontsize=10)
    elif kind == "BOX":
        figure = Figure(figsize=(5, 1.8))
        axis = figure.subplots()
        axis.bxp([box_stats(column["numeric"])], vert=False, showfliers=True, flierprops={"markersize": 2})
        axis.set_title(_label(column["name"]), fontsize=10)
        axis.set_yticks([])
    elif kind == "CORRELATION_HEATMAP":
        names = profile["correlations"]["columns"]["PEARSON"]
        size = max(4, 0.45 * len(names) + 2)
        figure = Figure(figsize=(size, size))
        axis = figure.subplots()
        image = axis.imshow(
            np.array(profile["correlations"]["values"]["PEARSON"], dtype=float), vmin=-1, vmax=1, cmap="RdBu_r"
        )
        axis.set_xticks(range(len(names)), [_label(n, 18) for n in names], rotation=90, fontsize=8)
        axis.set_yticks(range(len(names)), [_label(n, 18) for n in names], fontsize=8)
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.set_title("Pearson correlation", fontsize=10)
    else:
        figure = _missing_matrix(profile, Figure)
    _save(figure, target)


def box_stats(numeric: dict[str, Any]) -> dict[str, Any]:
    """A box from the stored quartiles: whiskers at 1.5 IQR (or the extremes inside them); extremes beyond as fliers."""
    q1, q3, iqr = numeric["q1"], numeric["q3"], numeric["iqr"]
    low, high = max(numeric["min"], q1 - 1.5 * iqr), min(numeric["max"], q3 + 1.5 * iqr)
    fliers = [value for value in (numeric["min"], numeric["max"]) if value < low or value > high]
    return {"med": numeric["median"], "q1": q1, "q3": q3, "whislo": low, "whishi": high, "fliers": fliers}


def _missing_matrix(profile: dict[str, Any], figure_class: type[FigureType]) -> FigureType:
    names = [c["name"] for c in profile["columns"]]
    stored = profile.get("missing_matrix") or {"step": 1, "columns": [], "rows": []}
    positions = [names.index(name) for name in stored["columns"]]
    missing = np.zeros((len(stored["rows"]), len(names)), dtype=bool)
    for row, flags in enumerate(stored["rows"]):
        for position, flag in zip(positions, flags, strict=True):
            missing[row, position] = flag == "1"
    step = stored["step"]
    figure = figure_class(figsize=(max(4, 0.35 * len(names) + 2), 4))
    axis = figure.subplots()
    axis.imshow(~missing, aspect="auto", cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    axis.set_xticks(range(len(names)), [_label(n, 18) for n in names], rotation=90, fontsize=8)
    axis.set_ylabel(f"rows (every {step})" if step > 1 else "rows")
    axis.set_title("Missing values (black)", fontsize=10)
    return figure
