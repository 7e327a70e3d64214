"""PNG plots of a profile, rendered with matplotlib's Agg backend inside the job's worker process."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from services.files import atomic_output  # noqa: E402

MAX_MATRIX_ROWS = 500


def plot_file_name(kind: str, index: int | None = None) -> str:
    """Names come from the kind and the column's position, never from its (user-given) name."""
    return f"{kind.lower()}{'' if index is None else f'_{index}'}.png"


def _save(figure: plt.Figure, target: Path) -> None:
    with atomic_output(target) as temporary:
        figure.savefig(temporary, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)


def _label(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_plots(table: pa.Table, profile: dict[str, Any], folder: Path) -> list[dict[str, Any]]:
    plots: list[dict[str, Any]] = []
    folder.mkdir(parents=True, exist_ok=True)
    for index, column in enumerate(profile["columns"]):
        histogram = column.get("histogram")
        if column.get("numeric") and histogram:
            figure, axis = plt.subplots(figsize=(5, 3))
            edges = np.array(histogram["edges"])
            axis.bar(edges[:-1], histogram["counts"], width=np.diff(edges), align="edge", color="#4c72b0")
            axis.set_title(_label(column["name"]), fontsize=10)
            name = plot_file_name("HISTOGRAM", index)
            _save(figure, folder / name)
            plots.append({"kind": "HISTOGRAM", "column": column["name"], "file": name})
            figure, axis = plt.subplots(figsize=(5, 1.8))
            values = pc.drop_null(table.column(column["name"])).to_numpy(zero_copy_only=False).astype(float)
            axis.boxplot(values[np.isfinite(values)], vert=False, showfliers=True, flierprops={"markersize": 2})
            axis.set_title(_label(column["name"]), fontsize=10)
            axis.set_yticks([])
            name = plot_file_name("BOX", index)
            _save(figure, folder / name)
            plots.append({"kind": "BOX", "column": column["name"], "file": name})
    names = profile["correlations"]["columns"]["PEARSON"]
    matrix = profile["correlations"]["values"].get("PEARSON")
    if matrix:
        size = max(4, 0.45 * len(names) + 2)
        figure, axis = plt.subplots(figsize=(size, size))
        image = axis.imshow(np.array(matrix, dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
        axis.set_xticks(range(len(names)), [_label(n, 18) for n in names], rotation=90, fontsize=8)
        axis.set_yticks(range(len(names)), [_label(n, 18) for n in names], fontsize=8)
        figure.colorbar(image, ax=axis, shrink=0.8)
        axis.set_title("Pearson correlation", fontsize=10)
        _save(figure, folder / plot_file_name("CORRELATION_HEATMAP"))
        plots.append({"kind": "CORRELATION_HEATMAP", "column": None, "file": plot_file_name("CORRELATION_HEATMAP")})
    step = max(1, table.num_rows // MAX_MATRIX_ROWS)
    rows = pa.array(range(0, table.num_rows, step))
    missing = np.column_stack([pc.is_null(table.column(i).take(rows)).to_numpy(zero_copy_only=False)
                               for i in range(table.num_columns)]) if table.num_columns else np.zeros((0, 0))
    figure, axis = plt.subplots(figsize=(max(4, 0.35 * table.num_columns + 2), 4))
    axis.imshow(~missing, aspect="auto", cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    axis.set_xticks(range(table.num_columns), [_label(n, 18) for n in table.column_names], rotation=90, fontsize=8)
    axis.set_ylabel(f"rows (every {step})" if step > 1 else "rows")
    axis.set_title("Missing values (black)", fontsize=10)
    _save(figure, folder / plot_file_name("MISSING_MATRIX"))
    plots.append({"kind": "MISSING_MATRIX", "column": None, "file": plot_file_name("MISSING_MATRIX")})
    return plots

