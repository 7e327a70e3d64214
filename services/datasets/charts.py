"""Chart-ready points from a dataset's Parquet copy: aggregated, binned or down-sampled to a bound."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from services import files
from services.pagination import checked_count
from services.errors import invalid

OTHER = "Other"
MAX_LIMIT = 10_000
MAX_TOP = 100
SEED = 0
NEEDS_Y = {"SCATTER", "LINE"}
ORDERED_TYPES = {"NUMERIC", "DATETIME", "BOOLEAN"}


def lttb(x: np.ndarray, y: np.ndarray, threshold: int) -> np.ndarray:
    """Largest-Triangle-Three-Buckets: indexes of `threshold` points that keep the line's shape (x sorted)."""
    n = x.size
    if threshold >= n or threshold < 3:
        return np.arange(n) if threshold >= n else np.linspace(0, n - 1, max(threshold, 1)).astype(int)
    chosen = np.empty(threshold, dtype=np.int64)
    chosen[0], chosen[-1] = 0, n - 1
    edges = np.linspace(1, n - 1, threshold - 1).astype(np.int64)
    previous = 0
    for bucket in range(threshold - 2):
        start, end = edges[bucket], edges[bucket + 1]
        following = slice(edges[bucket + 1], edges[bucket + 2] if bucket + 2 < len(edges) else n)
        mean_x, mean_y = x[following].mean(), y[following].mean()
        area = np.abs((x[previous] - mean_x) * (y[start:end] - y[previous])
                      - (x[previous] - x[start:end]) * (mean_y - y[previous]))
        previous = start + int(np.argmax(area))
        chosen[bucket + 1] = previous
    return chosen


def axis_kind(column: dict[str, Any]) -> str:
    """What an axis can do with a column, judged by its physical dtype: the semantic type only guides defaults,
    so an integer sequence flagged IDENTIFIER (a row number) or a year is still a numeric axis."""
    dtype = str(column.get("dtype") or "")
    if dtype.startswith(("int", "uint", "float")):
        return "NUMERIC"
    if dtype == "bool":
        return "BOOLEAN"
    if dtype.startswith("datetime64") or dtype == "date":
        return "DATETIME"
    return column.get("semantic_type") or "TEXT"


def _check(spec: dict[str, Any], types: dict[str, str]) -> None:
    kind = spec["type"]
    for field in ("x", "y", "group_by"):
        name = spec.get(field)
        if name is not None and name not in types:
            raise invalid(f"No column named {name!r}", ["input", {"group_by": "groupBy"}.get(field, field)])
    if kind in NEEDS_Y and spec.get("y") is None:
        raise invalid(f"A {kind} chart needs `y`", ["input", "y"])
    if kind in ("BAR", "PIE") and spec["aggregate"] != "COUNT" and spec.get("y") is None:
        raise invalid(f"Aggregating with {spec['aggregate']} needs `y`", ["input", "y"])
    if spec.get("y") is not None and (kind in NEEDS_Y or spec["aggregate"] != "COUNT") and types[spec["y"]] not in ("NUMERIC", "BOOLEAN"):
        raise invalid(f"`y` must be a number or boolean; {spec['y']} holds {types[spec['y']].lower()} values", ["input", "y"])
    if kind in ("HISTOGRAM", "SCATTER", "LINE") and types[spec["x"]] not in ORDERED_TYPES:
        raise invalid(f"A {kind} chart needs a numeric or datetime `x`; {spec['x']} holds {types[spec['x']].lower()} values",
                      ["input", "x"])
    if kind == "PIE" and spec.get("group_by"):
        raise invalid("A PIE chart cannot be grouped", ["input", "groupBy"])
    for name, most in (("limit", MAX_LIMIT), ("bins", 100), ("top", MAX_TOP)):
        checked_count(spec[name], name=name, default=CHART_DEFAULTS[name], least=1, most=most, field=["input", name])


def _json(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _group_label(value: Any) -> str | None:
    return None if value is None else str(_json(value))


CHART_DEFAULTS = {"aggregate": "COUNT", "bins": 20, "limit": 1000, "top": 20}  # for what a spec leaves out or null


def build_chart(data_dir: Path, dataset_id: str, columns: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    spec = {**spec, **{key: value for key, value in CHART_DEFAULTS.items() if spec.get(key) is None}}
    types = {c["name"]: axis_kind(c) for c in columns}
    _check(spec, types)
    wanted = list(dict.fromkeys(c for c in (spec["x"], spec.get("y"), spec.get("group_by")) if c))
    frame = pq.read_table(files.parquet_path(data_dir, dataset_id), columns=wanted).to_pandas(date_as_object=False)
    total = len(frame)
    kind = spec["type"]
    builder = {"HISTOGRAM": _histogram, "SCATTER": _scatter, "LINE": _line, "BAR": _bars, "PIE": _bars}[kind]
    points, sampled = builder(frame, spec)
    return {"type": kind, "x": spec["x"], "y": spec.get("y"), "points": points, "total_rows": total, "sampled": sampled}


def _histogram(frame: pd.DataFrame, spec: dict) -> tuple[list[dict], bool]:
    x = frame[spec["x"]]
    is_time = pd.api.types.is_datetime64_any_dtype(x)
    present = x.dropna()  # keeps the row index, so groups still line up
    if is_time and getattr(present.dt, "tz", None) is not None:
        present = present.dt.tz_convert("UTC").dt.tz_localize(None)  # edges in UTC epoch seconds, as for naive times
    values = present.astype("datetime64[s]").astype("int64").astype(float) if is_time else present.astype(float)
    finite = values[np.isfinite(values)]
    if finite.empty:
        return [], False
    edges = np.histogram_bin_edges(finite, bins=spec["bins"])
    show = (lambda e: pd.Timestamp(e, unit="s").isoformat()) if is_time else float
    groups = ([(None, values)] if not spec.get("group_by")
              else list(values.groupby(frame[spec["group_by"]].loc[values.index], dropna=False)))
    points = []
    for label, series in groups:
        counts, _ = np.histogram(series[np.isfinite(series)], bins=edges)
        points += [{"x": show(edges[i]), "x2": show(edges[i + 1]), "y": float(counts[i]), "group": _group_label(label)}
                   for i in range(len(counts))]
    return points, False


def _xy_points(frame: pd.DataFrame, spec: dict, index: np.ndarray, group: str | None) -> list[dict]:
    xs, ys = frame[spec["x"]].to_numpy()[index], frame[spec["y"]].to_numpy(dtype=float)[index]
    return [{"x": _json(xv), "y": _json(yv), "x2": None, "group": group} for xv, yv in zip(xs, ys)]


def _scatter(frame: pd.DataFrame, spec: dict) -> tuple[list[dict], bool]:
    frame = frame.dropna(subset=[spec["x"], spec["y"]]).reset_index(drop=True)
    sampled = len(frame) > spec["limit"]
    index = np.arange(len(frame))
    if sampled:
        index = np.sort(np.random.default_rng(SEED).choice(len(frame), spec["limit"], replace=False))
    groups = frame[spec["group_by"]].to_numpy()[index] if spec.get("group_by") else [None] * len(index)
    points = _xy_points(frame, spec, index, None)
    for point, group in zip(points, groups):
        point["group"] = _group_label(group) if spec.get("group_by") else None
    return points, sampled


def _line(frame: pd.DataFrame, spec: dict) -> tuple[list[dict], bool]:
    frame = frame.dropna(subset=[spec["x"], spec["y"]])
    groups = [(None, frame)] if not spec.get("group_by") else list(frame.groupby(spec["group_by"], dropna=False))
    per_series = max(3, spec["limit"] // max(1, len(groups)))
    points, sampled = [], False
    for label, part in groups:
        part = part.sort_values(spec["x"], kind="stable").reset_index(drop=True)
        x = part[spec["x"]]
        if pd.api.types.is_datetime64_any_dtype(x) and getattr(x.dt, "tz", None) is not None:
            x = x.dt.tz_convert("UTC").dt.tz_localize(None)
        numeric_x = (x.astype("int64") if pd.api.types.is_datetime64_any_dtype(x) else x).to_numpy(dtype=float)
        index = lttb(numeric_x, part[spec["y"]].to_numpy(dtype=float), per_series)
        sampled = sampled or len(index) < len(part)
        points += _xy_points(part, spec, index, _group_label(label))
    return points, sampled


def _aggregate(values: pd.core.groupby.SeriesGroupBy | pd.Series, how: str) -> Any:
    return {"COUNT": "size", "SUM": "sum", "MEAN": "mean", "MEDIAN": "median", "MIN": "min", "MAX": "max"}[how]


def _bars(frame: pd.DataFrame, spec: dict) -> tuple[list[dict], bool]:
    """Top levels of x by the aggregate, the rest folded into "Other" (with groupBy: per group)."""
    x, how, top = spec["x"], spec["aggregate"], spec["top"]
    target = spec.get("y") or x
    frame = frame.dropna(subset=[x])
    function = _aggregate(frame[target], how)
    overall = frame.groupby(x, dropna=True)[target].agg(function)
    ranked = overall.sort_values(ascending=False, kind="stable")
    kept = list(ranked.index[:top])
    folded = len(ranked) > top
    labels = frame[x].where(frame[x].isin(kept), other=OTHER) if folded else frame[x]
    if folded:
        labels = labels.astype(object)
    keys = [labels] + ([frame[spec["group_by"]]] if spec.get("group_by") else [])
    table = frame.groupby(keys, dropna=False, sort=False)[target].agg(function)
    order = {value: rank for rank, value in enumerate(kept + [OTHER])}
    rows = sorted(table.items(), key=lambda item: (order.get(item[0][0] if isinstance(item[0], tuple) else item[0], 0),
                                                   str(item[0][1]) if isinstance(item[0], tuple) else ""))
    points = []
    for key, value in rows:
        level, group = (key if isinstance(key, tuple) else (key, None))
        points.append({"x": _json(level), "y": _json(float(value)), "x2": None,
                       "group": _group_label(group) if spec.get("group_by") else None})
    return points, folded
