"""Where a profile's memory goes, query by query: the PROFILE body run in this process on a Parquet copy,
unique memory (USS) read after every DuckDB query and Python phase, with the peak since the line before.

Usage: .venv/bin/python bench/profile_memory.py BUDGET_MB [DATA_DIR]   (default /tmp/mem/data: the table written by
bench/memory_table.py; any dataset dir with a Parquet copy at datasets/d1/ works)
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, as the other benchmarks do
import services.profiling.correlation_sample as corr
import services.profiling.profile as prof
from bench.memory_probe import mark, summary
from services import dataplane, files
from services.ingest.columns import describe_parquet
from services.jobs.context import JobContext

budget = int(sys.argv[1])
data_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/mem/data")
path = files.parquet_path(data_dir, "d1")


class Conn:
    def __init__(self, c):
        self._c = c

    def execute(self, sql, *a, **k):
        r = self._c.execute(sql, *a, **k)
        return Res(r, " ".join(str(sql).split())[:150])

    def __getattr__(self, n):
        return getattr(self._c, n)


class Res:
    def __init__(self, r, sql):
        self._r, self._sql = r, sql

    def __getattr__(self, n):
        f = getattr(self._r, n)
        if (callable(f) and n.startswith("fetch")) or n in ("arrow", "df", "pl"):

            def g(*a, **k):
                out = f(*a, **k)
                mark("SQL " + self._sql)
                return out

            return g
        return f


real_connect = dataplane.connect
dataplane.connect = lambda **k: Conn(real_connect(**k))
for module, name in [
    (prof, "row_order"),
    (corr, "_correlation_sample"),
    (prof, "profile_large_column"),
    (prof, "profile_column"),
]:
    fn = getattr(module, name)

    def wrap(fn=fn, name=name):
        def w(*a, **k):
            out = fn(*a, **k)
            mark(f"PY {name} {a[0] if name == 'profile_column' else ''}")
            return out

        return w

    setattr(module, name, wrap())
scratch = data_dir / "scratch"
scratch.mkdir(exist_ok=True)
described = data_dir / "columns.json"  # written by bench/memory_table.py
columns = (
    json.loads(described.read_text())
    if described.exists()
    else describe_parquet(path, memory_mb=budget, scratch_dir=scratch)
)
from services.profiling.job import run_profile

ctx = JobContext(
    job_id="mem",
    params={"dataset_id": "d1", "data_dir": str(data_dir), "columns": columns, "plots": False},
    send=lambda m: mark(str(m)[:100]),
    is_cancelled=lambda: False,
    memory_mb=budget,
    scratch_dir=scratch,
)
mark("start")
run_profile(ctx)
print(summary())
