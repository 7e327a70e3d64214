"""The report's "why" section: a few typical and a few extreme rows of the dataset, each with the features that
moved its prediction most (services/modeling/explain), drawn as one PNG of small bar charts."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from services import dataplane, files
from services.errors import ServiceError
from services.modeling.estimators import load_model_artifact
from services.modeling.explain import Explainer, read_background

SAMPLE_ROWS = 2000  # rows scored to find the typical and the extreme ones
TYPICAL = 3  # rows whose score is nearest the median score
EXTREME = 2  # rows at each end of the score
TOP = 6  # contributions drawn per row; the rest are summed into "other features"


def explain_examples(
    *,
    data_dir: Path,
    model_id: str,
    training_dataset_id: str | None,
    dataset_id: str,
    task: str,
    features: list[str],
    log: Callable[..., None],
) -> dict[str, Any] | None:
    """What the section shows, as JSON: None (and a log line) when the model cannot be explained."""
    pipeline = load_model_artifact(files.model_path(data_dir, model_id))
    try:
        explainer = Explainer(
            pipeline,
            task=task,
            features=features,
            background=read_background(data_dir, model_id, training_dataset_id, features),
        )
    except ServiceError as exc:
        log(f"No 'why' section: {exc.message}", "WARNING")
        return None
    path = files.parquet_path(data_dir, dataset_id)
    if pq.ParquetFile(path).metadata.num_rows > SAMPLE_ROWS:  # the same rows as ever, without reading the table
        frame = dataplane.sampled_frame(path, features, SAMPLE_ROWS, seed=0)
    else:
        frame = pq.read_table(path, columns=features).to_pandas(date_as_object=False)
    chosen = _choose_rows(pipeline, task, frame)
    explained = explainer.explain_frame(frame.loc[[index for _, index in chosen]])
    rows = []
    for position, (kind, index) in enumerate(chosen):
        k = (
            int(np.argmax(explained.outputs[position])) if explained.labels else 0
        )  # the predicted class, in every space
        base = explained.base[position] if explained.base.ndim == 2 else explained.base
        contributions = explained.contributions[position, k]
        order = np.argsort(-np.abs(contributions))
        top = [
            {
                "feature": features[j],
                "value": _shown(frame.at[index, features[j]]),
                "contribution": float(contributions[j]),
            }
            for j in order[:TOP]
        ]
        rows.append(
            {
                "kind": kind,
                "row": int(index),
                "label": explained.labels[k] if explained.labels else None,
                "base_value": float(base[k]),
                "output": float(explained.outputs[position, k]),
                "top": top,
                "other": float(contributions[order[TOP:]].sum()),
            }
        )
    log(f"Explained {len(rows)} rows for the report ({explainer.method}, {explainer.space})")
    return {"method": explainer.method, "space": explainer.space, "exact": explainer.exact, "rows": rows}


def _choose_rows(pipeline: Any, task: str, frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """(kind, index) for the typical rows (score nearest its median) and the extreme ones (lowest and highest
    score). The score: the prediction (regression), the second class's probability (two classes), or the
    predicted class's probability (more)."""
    if task == "CLASSIFICATION":
        probabilities = pipeline.predict_proba(frame)
        score = probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities.max(axis=1)
    else:
        score = np.asarray(pipeline.predict(frame), dtype=float)
    order = np.argsort(score, kind="stable")
    extreme = list(order[:EXTREME]) + list(order[::-1][:EXTREME])
    extreme = list(dict.fromkeys(extreme))
    typical = [i for i in np.argsort(np.abs(score - np.median(score)), kind="stable") if i not in extreme][:TYPICAL]
    return [("typical", frame.index[i]) for i in typical] + [("extreme", frame.index[i]) for i in extreme]


def _shown(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "missing"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d" if value == value.normalize() else "%Y-%m-%d %H:%M")
    return str(value)[:24]


SPACE_WORDS = {
    "VALUE": "the predicted value",
    "PROBABILITY": "the predicted class's probability",
    "LOG_ODDS": "the predicted class's log-odds",
    "MULTICLASS_LOGIT": "the predicted class's softmax score",
}


def why_section(why: dict[str, Any], colour: str, png: Callable[[Any], str]) -> str:
    """The HTML: a sentence on reading it, the small multiples as one PNG, and a table of the same numbers."""
    import matplotlib.pyplot as plt

    rows = why["rows"]
    columns = 2
    lines = (len(rows) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(10, 2.3 * lines), squeeze=False)
    for axis, row in zip(axes.flat, rows, strict=False):
        rest = len(row["top"]) == TOP and row["other"] != 0  # more features than drawn
        names = [f"{t['feature'][:18]} = {t['value']}" for t in row["top"]] + (["other features"] if rest else [])
        values = [t["contribution"] for t in row["top"]] + ([row["other"]] if rest else [])
        axis.barh(range(len(values)), values, color=[colour if v >= 0 else "#c0504d" for v in values])
        axis.set_yticks(range(len(values)), names, fontsize=7)
        axis.invert_yaxis()
        axis.axvline(0, color="#888", linewidth=0.6)
        label = f" {row['label']}" if row["label"] is not None else ""
        axis.set_title(
            f"{row['kind']} row {row['row']}{label}: {row['output']:.3g} (base {row['base_value']:.3g})", fontsize=8
        )
    for axis in list(axes.flat)[len(rows) :]:
        axis.axis("off")
    figure.tight_layout()
    image = png(figure)
    method = {
        "LINEAR_EXACT": "exact linear contributions",
        "TREE_SHAP": "TreeSHAP (exact for the trees)",
        "KERNEL_SHAP": "KernelSHAP (an approximation)",
    }.get(why["method"], why["method"])
    table = "".join(
        f"<tr><td>{escape(r['kind'])}</td><td>{r['row']}</td><td>{escape(str(r['label'] or ''))}</td>"
        f"<td>{r['output']:.4g}</td><td>{r['base_value']:.4g}</td><td>"
        + escape(", ".join(f"{t['feature']} = {t['value']} ({t['contribution']:+.3g})" for t in r["top"][:3]))
        + "</td></tr>"
        for r in rows
    )
    return (
        "<h2>Why: predictions explained</h2>"
        f"<p>For a few typical rows (a score near the median) and a few extreme ones (the lowest and highest), "
        f"the features that moved {escape(SPACE_WORDS.get(why['space'], why['space']))} away from the base value "
        f"(the average over the training data), by {escape(method)}. The base value plus the bars is the "
        "output.</p>"
        f'<img src="{image}" alt="top contributions of typical and extreme rows">'
        "<table><thead><tr><th>kind</th><th>row</th><th>class</th><th>output</th><th>base value</th>"
        f"<th>top contributions</th></tr></thead><tbody>{table}</tbody></table>"
    )
