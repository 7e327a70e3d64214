"""A window's served inputs against the model's training data: services.drift's tests, per feature.

The reference is a uniform sample of the training dataset version, read from its Parquet copy batch
by batch (feature columns only), so its memory is the sample's whatever the dataset's size; it is kept
per process for the model's dataset version (a few models' worth).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane, files
from services.drift import CATEGORICAL_METHODS, NUMERIC_METHODS, DriftMethod, DriftTest, drift_test
from services.monitoring.sample import INPUTS, KEY, bottom_k_table

READ_BATCH_ROWS = 65_536
SAMPLE_SEED = 20261205  # one reference per dataset version: the same answer on every replica and every read


def reference_sample(data_dir: Path, dataset_id: str, columns: list[str], rows: int) -> pd.DataFrame:
    """Up to `rows` training rows, uniformly sampled, of the columns the dataset has."""
    path = files.parquet_path(data_dir, dataset_id)
    return _reference(str(path), path.stat().st_mtime_ns, tuple(columns), rows)


@lru_cache(maxsize=8)
def _reference(path: str, _stamp: int, columns: tuple[str, ...], rows: int) -> pd.DataFrame:
    parquet = pq.ParquetFile(path)
    present = [name for name in columns if name in parquet.schema_arrow.names]
    rng = np.random.default_rng(SAMPLE_SEED)
    kept: pa.Table | None = None
    for batch in dataplane.batches(parquet, columns=present, batch_rows=READ_BATCH_ROWS):
        kept = bottom_k_table(kept, pa.Table.from_batches([batch]), rows, rng)
    if kept is None:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in present})
    frame: pd.DataFrame = kept.drop_columns([KEY]).to_pandas(date_as_object=False)  # (pyarrow is untyped)
    return frame


def feature_drift(
    reference: pd.DataFrame,
    sample: list[dict[str, Any]],
    features: list[dict[str, Any]],
    *,
    method: DriftMethod | None = None,
    threshold: float | None = None,
) -> list[DriftTest]:
    """One DriftTest per feature the reference has. A chosen method applies to the columns it can test
    (KS and Wasserstein to numbers only); the others keep the per-column default and its threshold."""
    tests = []
    for feature in features:
        name, semantic = feature["name"], feature["semantic_type"]
        if name not in reference.columns:
            continue
        served = pd.Series([item[INPUTS].get(name) for item in sample], dtype=object)
        known = reference[name]
        numeric = semantic in ("NUMERIC", "BOOLEAN", "DATETIME")
        if semantic == "DATETIME":  # compared as instants: seconds since the epoch
            known, served = _seconds(known), _seconds(served)
        fits = method is not None and method in (NUMERIC_METHODS if numeric else CATEGORICAL_METHODS)
        tests.append(
            drift_test(
                known,
                served,
                numeric=numeric,
                method=method if fits else None,
                threshold=threshold if fits else None,
                column=name,
            )
        )
    return tests


def _seconds(values: pd.Series) -> pd.Series:
    moments = pd.to_datetime(values, errors="coerce", utc=True, format="mixed").dropna()
    epoch = pd.Timestamp(0, tz="UTC")  # not astype(int64): the unit (ns, us) differs between sources
    return pd.Series(((moments - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64"), dtype="float64")
