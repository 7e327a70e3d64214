"""Peak memory of preprocessing and batch scoring, whole-table against streamed, on the same Parquet file.

Each run is a fresh Python process whose RSS is sampled from outside (psutil on its pid, every 20 ms).
The anchor is the same work done the whole-table way in the same run.

Usage: .venv/bin/python bench/engine_transforms.py [ROWS] [BUDGET_MB]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import run_watching_rss

STEPS = [
    ("impute", {"strategy": "MEDIAN", "columns": ["measure_0", "measure_1"]}),
    ("encode", {"strategy": "ONE_HOT", "columns": ["category_1"]}),
    ("scale", {"strategy": "STANDARD", "columns": ["measure_0", "count_0"]}),
    ("clipOutliers", {"columns": ["measure_2"], "factor": 1.5}),
]

CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from services.preprocessing.job import preprocess_table
began = time.perf_counter()
result = preprocess_table(Path({source!r}), Path({target!r}), {steps!r}, memory_mb={budget},
scratch_dir=Path({scratch!r}),
                          stream={stream})
print(json.dumps({{"seconds": time.perf_counter() - began, "rows": result["row_count"]}}))
"""


SCORE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import pyarrow as pa, pyarrow.parquet as pq, pandas as pd
from services.ingest.parquet import ParquetBatchWriter, write_parquet
from services.modeling.estimators import load_model_artifact
from services.modeling.scoring import batch_rows, scored_batches
pipeline = load_model_artifact({model!r})
features = {features!r}
began = time.perf_counter()
if {stream}:
    rows = 0
    with ParquetBatchWriter(Path({target!r})) as writer:
        for batch in scored_batches(pipeline, "CLASSIFICATION", features, Path({source!r}),
                                    rows_per_batch=batch_rows(Path({source!r}), {budget})):
            writer.add(batch)
            rows += batch.num_rows
else:  # the whole-table way predictDataset worked before
    frame = pq.read_table({source!r}).to_pandas(date_as_object=False)
    frame["prediction"] = pipeline.predict(frame[features])
    probabilities = pipeline.predict_proba(frame[features])
    for index, label in enumerate(pipeline.classes_):
        frame[f"probability_{{label}}"] = probabilities[:, index]
    write_parquet(pa.Table.from_pandas(frame, preserve_index=False), Path({target!r}))
    rows = len(frame)
print(json.dumps({{"seconds": time.perf_counter() - began, "rows": rows}}))
"""


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    import pyarrow.parquet as pq

    from bench.datagen import mixed_table

    folder = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    source = folder / "source.parquet"
    pq.write_table(mixed_table(rows), source, row_group_size=128 * 1024)
    root = str(Path(__file__).resolve().parents[1])
    print(f"{rows:,} rows x 20 columns, Parquet {source.stat().st_size / 2**20:,.0f} MB; budget {budget} MB")
    common = {"root": root, "source": str(source), "budget": budget}
    _both_ways("4-step preprocessing", CHILD, folder / "out", steps=STEPS, scratch=str(folder / "scratch"), **common)
    model = folder / "model.joblib"
    features = _train_small_model(source, model)
    scored = _both_ways(
        "predictDataset (HGB, 6 features)", SCORE, folder / "scored", model=str(model), features=features, **common
    )
    assert all(result["rows"] == rows for result in scored)


def _both_ways(title: str, child: str, output: Path, **fields: object) -> list[dict]:
    """Run the `child` program the whole-table way (the anchor) and streamed within the budget, each writing
    `output`-{stream}.parquet; print a table row for each and return their results."""
    print(f"{title:<34}{'seconds':>10}{'peak RSS MB':>14}")
    results = []
    for label, stream in (("whole table (anchor)", False), (f"streamed, {fields['budget']} MB budget", True)):
        code = child.format(target=f"{output}-{stream}.parquet", stream=stream, **fields)
        result, peak = run_watching_rss([sys.executable, "-c", code])
        print(f"{label:<34}{result['seconds']:>10.1f}{peak / 2**20:>14,.0f}")
        results.append(result)
    return results


def _train_small_model(source: Path, model: Path) -> list[str]:
    import joblib
    import pyarrow.parquet as pq

    from services.modeling.estimators import build_pipeline

    names = ["measure_0", "measure_1", "count_0", "count_1", "category_1", "flag_0"]
    frame = pq.read_table(source, columns=names).slice(0, 20_000).to_pandas()
    features = [{"name": n, "semantic_type": "CATEGORICAL" if n.startswith("category") else "NUMERIC"} for n in names]
    label = (frame.measure_0.fillna(100) > 100).map({True: "high", False: "low"})
    joblib.dump(
        build_pipeline("HIST_GRADIENT_BOOSTING", "CLASSIFICATION", features, 0, len(frame), None).fit(frame, label),
        model,
    )
    return names


if __name__ == "__main__":
    main()
