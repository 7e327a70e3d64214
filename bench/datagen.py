"""Mixed-type CSV generator shared by the benchmarks: numbers with gaps, integers, categories, dates, booleans, text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

WORDS = np.array(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
        "rho",
        "sigma",
    ]
)


def mixed_table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {"id": pa.array(np.arange(1, rows + 1))}
    for index in range(4):
        values = rng.normal(100 * (index + 1), 15, rows)
        columns[f"measure_{index}"] = pa.array(values, mask=rng.random(rows) < 0.1)
    for index in range(4):
        columns[f"count_{index}"] = pa.array(rng.integers(0, 1000 * (index + 1), rows))
    for index, levels in enumerate((3, 8, 20, 50)):
        names = np.array([f"level_{k}" for k in range(levels)])
        columns[f"category_{index}"] = pa.array(names[rng.integers(0, levels, rows)])
    start = np.datetime64("2020-01-01")
    columns["date_0"] = pa.array(start + rng.integers(0, 1500, rows).astype("timedelta64[D]"))
    columns["date_1"] = pa.array((start + np.arange(rows).astype("timedelta64[m]")).astype("datetime64[s]"))
    columns["flag_0"] = pa.array(rng.random(rows) < 0.3)
    columns["flag_1"] = pa.array(rng.random(rows) < 0.7)
    for index in range(2):
        picks = WORDS[rng.integers(0, len(WORDS), (rows, 6))]
        columns[f"text_{index}"] = pa.array([" ".join(p) for p in picks])
    columns["score"] = pa.array(np.round(rng.random(rows), 4))
    return pa.table(columns)


def write_mixed_csv(path: Path, rows: int, seed: int = 0) -> Path:
    pacsv.write_csv(mixed_table(rows, seed), path)
    return path


if __name__ == "__main__":
    import sys

    write_mixed_csv(Path(sys.argv[1]), int(sys.argv[2]))
