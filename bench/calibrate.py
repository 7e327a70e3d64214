"""A fixed workload timed on this machine, printed with every benchmark so runs on different days compare.

This VM's speed has varied ~30-40% between sessions (pyarrow's read_csv of the same file: 0.49 s one
day, 0.69 s another); a benchmark's figure means little without the machine's figure beside it.
Usage: .venv/bin/python bench/calibrate.py  (the benchmarks call `machine_line()`)
"""

from __future__ import annotations

import subprocess
import sys

WORKLOAD = r"""
import io, statistics, time
import numpy as np, pyarrow.csv as pacsv

def best(work, repeats=5):
    times = []
    for _ in range(repeats):
        began = time.perf_counter(); work(); times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000

rng = np.random.default_rng(0)
values = rng.random(2_000_000)
text = "".join(f"{i},{i * 0.5},name{i % 97}\n" for i in range(200_000)).encode()
python = best(lambda: sum(i * i for i in range(1_000_000)))
numpy_sort = best(lambda: np.sort(values))
csv = best(lambda: pacsv.read_csv(io.BytesIO(b"a,b,c\n" + text), read_options=pacsv.ReadOptions(use_threads=False)))
print(f"{python:.1f} {numpy_sort:.1f} {csv:.1f}")
"""


def machine_line() -> str:
    """One line: a pure-Python loop, a numpy sort and a single-threaded Arrow CSV parse, median of 5 (ms)."""
    out = subprocess.run([sys.executable, "-c", WORKLOAD], capture_output=True, text=True, check=True).stdout.split()
    python, numpy_sort, csv = (float(value) for value in out)
    return (
        f"Machine: Python loop {python:.0f} ms, numpy sort of 2M floats {numpy_sort:.0f} ms, "
        f"Arrow CSV 200k rows on one thread {csv:.0f} ms (bench/calibrate.py; lower is faster)"
    )


if __name__ == "__main__":
    print(machine_line())
