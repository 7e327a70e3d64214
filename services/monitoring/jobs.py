"""What a predictDataset (PREDICT) job records for monitoring: exact counts and a bottom-k sample of its
rows, drawn in the job's own process batch by batch, then stored by the job's end hook as the job's own
writer row of the window it finished in.

The sample travels as a small JSON file beside the job's output (the end hook runs where the job's
record is kept, on the same machine), not in the job's result, which users read.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.monitoring.sample import INPUTS, KEY, OUTPUT, bottom_k_table, json_value, window_start
from services.storage.tables import Job, MonitorWindow, utcnow

SAMPLE_FILE = "monitor_sample.json"


class DatasetSample:
    """Fed every scored batch; keeps `capacity` rows and the exact counts."""

    def __init__(self, *, features: list[str], capacity: int, classes: bool) -> None:
        self.features, self.capacity, self.classes = features, capacity, classes
        self.rows = 0
        self.prediction_counts: dict[str, int] = {}
        self._kept: pa.Table | None = None
        self._rng = np.random.default_rng()

    def add(self, batch: pa.RecordBatch) -> None:
        table = pa.Table.from_batches([batch]).select([*self.features, "prediction"])
        self.rows += table.num_rows
        if self.classes:
            for label, count in zip(
                *np.unique(np.asarray(table.column("prediction").to_pylist(), dtype=str), return_counts=True),
                strict=True,
            ):
                self.prediction_counts[str(label)] = self.prediction_counts.get(str(label), 0) + int(count)
        self._kept = bottom_k_table(self._kept, table, self.capacity, self._rng)

    def items(self) -> list[dict[str, Any]]:
        if self._kept is None:
            return []
        items = []
        for row in self._kept.to_pylist():
            output = row["prediction"]
            items.append(
                {
                    KEY: row[KEY],
                    INPUTS: {name: json_value(row[name]) for name in self.features},
                    OUTPUT: str(output) if self.classes and output is not None else json_value(output),
                }
            )
        return items

    def write(self, data_dir: Path, dataset_id: str) -> None:
        path = files.dataset_dir(data_dir, dataset_id) / SAMPLE_FILE
        path.write_text(
            json.dumps({"rows": self.rows, "prediction_counts": self.prediction_counts, "sample": self.items()})
        )


async def record_job_sample(session: AsyncSession, job: Job) -> None:
    """The PREDICT job's end hook part: its sample into the window it finished in (in the caller's transaction)."""
    monitor = job.params.get("monitor")
    if not monitor:
        return
    path = files.dataset_dir(files.job_data_dir(job.params), job.params["dataset_id"]) / SAMPLE_FILE
    path = await asyncio.to_thread(files.fetched, path)  # from the object store when the job ran elsewhere
    if not path.exists():
        return
    stored = json.loads(await asyncio.to_thread(path.read_text))
    start = window_start(utcnow(), float(monitor["window_minutes"]))
    writer = f"job-{job.id}"
    row = (
        await session.exec(
            select(MonitorWindow).where(
                MonitorWindow.model_id == job.params["model_id"], MonitorWindow.writer == writer
            )
        )
    ).first()
    if row is None:  # a job run again keeps its first row (its writer name is the job's)
        session.add(
            MonitorWindow(
                owner_id=job.owner_id,
                model_id=job.params["model_id"],
                window_start=start,
                writer=writer,
                request_count=1,
                row_count=stored["rows"],
                prediction_counts=stored["prediction_counts"],
                sample=json.dumps(stored["sample"]),
            )
        )
    path.unlink(missing_ok=True)
