"""Chart-ready points from a dataset's Parquet copy: aggregated, binned or down-sampled to a bound.

The table is never loaded: bars, pies and histograms are aggregated inside DuckDB (held to the memory
budget, spilling to a scratch dir); scatter samples are picked while streaming the few columns they need;
lines pull only the sorted (x, y) series when it fits the budget, and beyond that let DuckDB reduce each
series to per-bucket extremes first. Down-sampled points are read back with pyarrow, so values keep their
stored types.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from services import dataplane, files
from services.datasets.chart_source import Source, chart_source
from services.errors import invalid
from services.pagination import checked_count

OTHER = "Other"
MAX_LIMIT = 10_000
MAX_TOP = 100
SEED = 0
NEEDS_Y = {"SCATTER", "LINE"}
ORDERED_TYPES = {"NUMERIC", "DATETIME", "BOOLEAN"}
BATCH_ROWS = 65_536
LINE_BYTES_PER_ROW = 64  # x, y, group and row number as numpy arrays, with sorting room
LINE_BUCKETS_PER_POINT = 4  # beyond the budget, each output point is chosen among this many bucket extremes


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
        area = np.abs(
            (x[previous] - mean_x) * (y[start:end] - y[previous])
            - (x[previous] - x[start:end]) * (mean_y - y[previous])
        )
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
    if (
        spec.get("y") is not None
        and (kind in NEEDS_Y or spec["aggregate"] != "COUNT")
        and types[spec["y"]] not in ("NUMERIC", "BOOLEAN")
    ):
        raise invalid(
            f"`y` must be a number or boolean; {spec['y']} holds {types[spec['y']].lower()} values", ["input", "y"]
        )
    if kind in ("HISTOGRAM", "SCATTER", "LINE") and types[spec["x"]] not in ORDERED_TYPES:
        raise invalid(
            f"A {kind} chart needs a numeric or datetime `x`; {spec['x']} holds {types[spec['x']].lower()} values",
            ["input", "x"],
        )
    if kind == "PIE" and spec.get("group_by"):
        raise invalid("A PIE chart cannot be grouped", ["input", "groupBy"])
    for name, most in (("limit", MAX_LIMIT), ("bins", 100), ("top", MAX_TOP)):
        checked_count(spec[name], name=name, default=COUNT_DEFAULTS[name], least=1, most=most, field=["input", name])


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
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(_json(value))


COUNT_DEFAULTS = {"bins": 20, "limit": 1000, "top": 20}
CHART_DEFAULTS: dict[str, str | int] = {"aggregate": "COUNT", **COUNT_DEFAULTS}  # for what a spec leaves out or null


class ChartPoint(TypedDict):
    """One point as the schema hands it on: x (a number, an ISO time or a category), a histogram bin's right edge
    as x2, y (None where it is not finite), and the label of its group."""

    x: Any
    x2: Any
    y: float | None
    group: str | None


def build_chart(
    data_dir: Path,
    dataset_id: str,
    columns: list[dict[str, Any]],
    spec: dict[str, Any],
    *,
    memory_mb: int = 2048,
    scratch_dir: Path | None = None,
) -> dict[str, Any]:
    spec = {**spec, **{key: value for key, value in CHART_DEFAULTS.items() if spec.get(key) is None}}
    types = {c["name"]: axis_kind(c) for c in columns}
    _check(spec, types)
    path = files.fetched(files.parquet_path(data_dir, dataset_id))
    total = pq.ParquetFile(path).metadata.num_rows
    kind = spec["type"]
    builder = {"HISTOGRAM": _histogram, "SCATTER": _scatter, "LINE": _line, "BAR": _bars, "PIE": _bars}[kind]
    with chart_source(path, memory_mb=memory_mb, scratch_dir=scratch_dir) as source:
        points, sampled = builder(source, spec)
    return {"type": kind, "x": spec["x"], "y": spec.get("y"), "points": points, "total_rows": total, "sampled": sampled}


def _group_values(source: Source, spec: dict[str, Any], where: str) -> list[Any]:
    """The group column's levels among rows passing `where`, sorted as pandas' groupby sorts them (missing last)."""
    group = source.column(spec["group_by"])
    levels = source.arrow(f"SELECT DISTINCT {group} AS g FROM {source.table} WHERE {where} ORDER BY g NULLS LAST")
    return list(levels.column("g").to_pandas(date_as_object=False)) if levels.num_rows else []


def _histogram(source: Source, spec: dict[str, Any]) -> tuple[list[ChartPoint], bool]:
    x, bins = spec["x"], spec["bins"]
    value = source.number(x)
    is_time = pa.types.is_timestamp(source.kind(x)) or pa.types.is_date(source.kind(x))
    low, high = source.one(f"SELECT min(v), max(v) FROM (SELECT {value} AS v FROM {source.table}) WHERE isfinite(v)")
    if low is None:
        return [], False
    edges = np.histogram_bin_edges(np.array([low, high], dtype=float), bins=bins)
    first, denominator = float(edges[0]), float(edges[-1] - edges[0])
    # numpy's rule for equal bins: scale to an index, then nudge by the exact edges (float rounding at the edges);
    # DuckDB lists count from 1, so bin i runs from e[i + 1] to e[i + 2]
    index = f"least(CAST(trunc((v - {first!r}) / {denominator!r} * {bins}) AS BIGINT), {bins - 1})"
    lowered = "(i - CASE WHEN v < e[i + 1] THEN 1 ELSE 0 END)"
    nudged = f"(d + CASE WHEN d < {bins - 1} AND v >= e[d + 2] THEN 1 ELSE 0 END)"
    group = source.column(spec["group_by"]) if spec.get("group_by") else "NULL"
    counted = source.arrow(
        f"SELECT g, {nudged} AS bin, count(*) AS n FROM (SELECT {lowered} AS d, v, g, e FROM "
        f"(SELECT {index} AS i, v, g, ?::DOUBLE[] AS e FROM "
        f"(SELECT {value} AS v, {group} AS g FROM {source.table}) WHERE isfinite(v))) GROUP BY ALL",
        [edges.tolist()],
    ).to_pandas(date_as_object=False)
    levels = _group_values(source, spec, source.present(x)) if spec.get("group_by") else [None]
    counts: dict[Any, np.ndarray] = {}
    for level, bin_index, n in zip(counted["g"], counted["bin"], counted["n"], strict=True):
        counts.setdefault(_group_label(level), np.zeros(bins, dtype=np.int64))[int(bin_index)] += int(n)
    show = (lambda e: pd.Timestamp(e, unit="s").isoformat()) if is_time else float
    points: list[ChartPoint] = []
    for level in levels:
        label = _group_label(level)
        per_bin = counts.get(label, np.zeros(bins, dtype=np.int64))
        points += [
            {"x": show(edges[i]), "x2": show(edges[i + 1]), "y": float(per_bin[i]), "group": label} for i in range(bins)
        ]
    return points, False


def _xy_points(frame: pd.DataFrame, spec: dict[str, Any], index: np.ndarray, group: str | None) -> list[ChartPoint]:
    xs, ys = frame[spec["x"]].to_numpy()[index], frame[spec["y"]].to_numpy(dtype=float)[index]
    return [{"x": _json(xv), "y": _json(yv), "x2": None, "group": group} for xv, yv in zip(xs, ys, strict=True)]


def _valid(batch: pa.RecordBatch, names: list[str]) -> np.ndarray:
    mask = np.ones(batch.num_rows, dtype=bool)
    for name in names:
        values = batch.column(name)
        present = pc.is_valid(values)
        if pa.types.is_floating(values.type):
            present = pc.and_(present, pc.invert(pc.fill_null(pc.is_nan(values), True)))
        mask &= present.to_numpy(zero_copy_only=False)
    return mask


def _scatter(source: Source, spec: dict[str, Any]) -> tuple[list[ChartPoint], bool]:
    """A seeded sample of the rows that have both x and y: counted in one pass, picked in a second."""
    wanted = list(dict.fromkeys(c for c in (spec["x"], spec["y"], spec.get("group_by")) if c))
    parquet = pq.ParquetFile(source.path)
    (count,) = source.one(
        f"SELECT count(*) FROM {source.table} WHERE {source.present(spec['x'])} AND {source.present(spec['y'])}"
    )
    sampled = count > spec["limit"]
    chosen = (
        np.sort(np.random.default_rng(SEED).choice(count, spec["limit"], replace=False))
        if sampled
        else np.arange(count)
    )
    taken, seen = [], 0
    for batch in dataplane.batches(parquet, batch_rows=BATCH_ROWS, columns=wanted):
        rows = np.flatnonzero(_valid(batch, [spec["x"], spec["y"]]))
        low, high = np.searchsorted(chosen, [seen, seen + rows.size])
        if high > low:
            taken.append(batch.take(pa.array(rows[chosen[low:high] - seen])))
        seen += rows.size
    frame = (pa.Table.from_batches(taken) if taken else source.schema_table(wanted)).to_pandas(date_as_object=False)
    index = np.arange(len(frame))
    points = _xy_points(frame, spec, index, None)
    if spec.get("group_by"):
        for point, group in zip(points, frame[spec["group_by"]].to_numpy(), strict=True):
            point["group"] = _group_label(group)
    return points, sampled


def _line(source: Source, spec: dict[str, Any]) -> tuple[list[ChartPoint], bool]:
    """Each series sorted by x (ties in file order) and thinned by LTTB. The whole (x, y) series is pulled when
    it fits the budget (the same points as ever); beyond it, DuckDB first keeps each x-bucket's first, last,
    lowest and highest point, and LTTB chooses among those."""
    x, y = spec["x"], spec["y"]
    dataplane.require_row_numbers(source.path, "A LINE chart", ["input"])  # ties keep file order
    where = f"{source.present(x)} AND {source.present(y)}"
    levels = _group_values(source, spec, where) if spec.get("group_by") else [None]
    per_series = max(3, spec["limit"] // max(1, len(levels)))
    (count,) = source.one(f"SELECT count(*) FROM {source.table} WHERE {where}")
    fits = count * LINE_BYTES_PER_ROW <= source.memory_mb * 1024 * 1024 // 4
    group = source.column(spec["group_by"]) if spec.get("group_by") else "NULL"
    numbered = (
        f"SELECT {source.line_x(x)} AS lx, {source.number(y)} AS ly, {group} AS g, file_row_number AS r "
        f"FROM read_parquet(?, file_row_number = true) WHERE {where}"
    )
    if fits:
        series = source.arrow(f"SELECT * FROM ({numbered}) ORDER BY g NULLS LAST, lx, r", [str(source.path)])
    else:
        buckets = per_series * LINE_BUCKETS_PER_POINT
        series = source.arrow(
            f"WITH s AS ({numbered}), b AS (SELECT *, least(CAST(floor((lx - min(lx) OVER (PARTITION BY g)) / "
            f"nullif(max(lx) OVER (PARTITION BY g) - min(lx) OVER (PARTITION BY g), 0) * {buckets}) AS BIGINT), "
            f"{buckets - 1}) AS k FROM s), picks AS (SELECT g, unnest([arg_min(r, (lx, r)), arg_max(r, (lx, -r)), "
            f"arg_min(r, (ly, r)), arg_max(r, (ly, -r))]) AS r FROM b GROUP BY g, k) "
            f"SELECT s.* FROM s WHERE r IN (SELECT r FROM picks) ORDER BY g NULLS LAST, lx, r",
            [str(source.path)],
        )
    frame = series.to_pandas(date_as_object=False)
    positions_by_series = []
    keys = np.array([_group_label(g) for g in frame["g"]], dtype=object) if spec.get("group_by") else None
    for level in levels:
        part = frame[keys == _group_label(level)] if keys is not None else frame
        index = lttb(part["lx"].to_numpy(dtype=float), part["ly"].to_numpy(dtype=float), per_series)
        positions_by_series.append((_group_label(level), part["r"].to_numpy()[index], len(index) < len(part)))
    wanted = [x, y]
    everything = (
        np.unique(np.concatenate([p for _, p, _ in positions_by_series])) if positions_by_series else np.array([], int)
    )
    values = source.rows_at(wanted, everything).to_pandas(date_as_object=False)
    where_in = {int(r): i for i, r in enumerate(everything)}
    points: list[ChartPoint] = []
    sampled = not fits
    for label, rows, thinned in positions_by_series:
        sampled = sampled or thinned
        points += _xy_points(values, spec, np.array([where_in[int(r)] for r in rows], dtype=np.int64), label)
    return points, sampled


def _bars(source: Source, spec: dict[str, Any]) -> tuple[list[ChartPoint], bool]:
    """Top levels of x by the aggregate, the rest folded into "Other" (with groupBy: per group)."""
    x, how, top = source.column(spec["x"]), spec["aggregate"], spec["top"]
    y = source.number(spec["y"]) if spec.get("y") else "NULL"
    function = {
        "COUNT": "count(*)",
        "SUM": "coalesce(sum(v), 0)",
        "MEAN": "avg(v)",
        "MEDIAN": "median(v)",
        "MIN": "min(v)",
        "MAX": "max(v)",
    }[how]
    group = source.column(spec["group_by"]) if spec.get("group_by") else "NULL"
    # ties rank by level, ascending, as a stable sort of pandas' sorted groupby index did
    result = source.arrow(
        f"WITH base AS (SELECT {x} AS level, {y} AS v, {group} AS g FROM {source.table} WHERE "
        f"{source.present(spec['x'])}), "
        f"overall AS (SELECT level, {function} AS value FROM base GROUP BY level), "
        "ranked AS (SELECT level, row_number() OVER (ORDER BY value DESC NULLS LAST, level) AS position FROM "
        "overall), "
        f"labelled AS (SELECT least(position, {top + 1}) AS position, CASE WHEN position <= {top} THEN level END "
        "AS level, "
        f"v, g FROM base JOIN ranked USING (level)) "
        f"SELECT position, any_value(level) AS level, g, {function} AS value, (SELECT count(*) FROM overall) AS levels "
        f"FROM labelled GROUP BY position, g"
    )
    frame = result.to_pandas(date_as_object=False)
    frame["level"] = pd.Series(
        [_plain(v) for v in result.column("level").to_pylist()], dtype=object
    )  # ints stay ints beside the nulls
    folded = bool(len(frame) and int(frame["levels"].iloc[0]) > top)
    grouped = bool(spec.get("group_by"))
    order = sorted(
        range(len(frame)),
        key=lambda i: (int(frame["position"].iloc[i]), _sort_text(frame["g"].iloc[i]) if grouped else ""),
    )
    points: list[ChartPoint] = []
    for i in order:
        position = int(frame["position"].iloc[i])
        level = OTHER if position > top else frame["level"].iloc[i]
        value = frame["value"].iloc[i]
        points.append(
            {
                "x": level,
                "y": _json(float(value) if value is not None else float("nan")),
                "x2": None,
                "group": _group_label(frame["g"].iloc[i]) if grouped else None,
            }
        )
    return points, folded


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return pd.Timestamp(value).isoformat()
    return _json(value)


def _sort_text(value: Any) -> str:
    """Groups within a bar in the order of str() of pandas' keys, as before (missing as 'nan')."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return str(value)
