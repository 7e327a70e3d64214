"""The bounded sample a window keeps, and window arithmetic.

A window's sample is a bottom-k sample: every row offered gets a uniform random key and the k rows with
the smallest keys are kept. That is a uniform sample without replacement of everything offered, like
Algorithm R, but two samples merge exactly: the k smallest keys of their union are a uniform sample of
both streams together. So each writer (a replica, a predictDataset job) keeps its own sample of a window
and a reader merges them, with no coordination between writers and no weights to get wrong.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

KEY = "k"  # the sampling key of a stored row
INPUTS = "in"  # the row's feature values, as served
OUTPUT = "out"  # the model's prediction: a class label (str) or a number


class BottomK:
    """The k offered items with the smallest random keys; `offer` is O(log k)."""

    def __init__(self, capacity: int, items: Iterable[dict[str, Any]] = (), rng: random.Random | None = None) -> None:
        self.capacity = capacity
        self._rng = rng or random.Random()  # noqa: S311 - sampling, not a secret
        self._heap: list[tuple[float, int, dict[str, Any]]] = []  # max-heap by key (negated); the int breaks ties
        self._count = 0
        self.changed = False  # set when an item got in; the recorder clears it once it has written the sample
        for item in items:
            self._push(item[KEY], item)

    def offer(self, inputs: dict[str, Any], output: Any) -> None:
        key = self._rng.random()
        if len(self._heap) >= self.capacity and key >= -self._heap[0][0]:
            return  # most rows of a busy window stop here, before any dict is built
        self._push(key, {KEY: key, INPUTS: inputs, OUTPUT: output})

    def _push(self, key: float, item: dict[str, Any]) -> None:
        self._count += 1
        entry = (-key, self._count, item)
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, entry)
        elif key < -self._heap[0][0]:
            heapq.heapreplace(self._heap, entry)
        else:
            return
        self.changed = True

    def items(self) -> list[dict[str, Any]]:
        return [item for _, _, item in sorted(self._heap, reverse=True)]  # by key, smallest first

    def __len__(self) -> int:
        return len(self._heap)


def merge(samples: Iterable[list[dict[str, Any]]], capacity: int) -> list[dict[str, Any]]:
    """The union's bottom-k: a uniform sample of every row the merged samples' writers were offered."""
    return heapq.nsmallest(capacity, (item for sample in samples for item in sample), key=lambda item: item[KEY])


async def serialized(items: list[dict[str, Any]], slice_rows: int = 50) -> str:
    """`json.dumps(items)`, letting the event loop run between slices (the C encoder never lets go of it)."""
    parts = []
    for begin in range(0, len(items), slice_rows):
        parts.append(json.dumps(items[begin : begin + slice_rows])[1:-1])
        await asyncio.sleep(0)
    return "[" + ",".join(part for part in parts if part) + "]"


def bottom_k_table(kept: pa.Table | None, batch: pa.Table, capacity: int, rng: np.random.Generator) -> pa.Table:
    """Arrow form of the same sample, batch by batch (a predictDataset job, the training reference):
    `kept` has a float64 column KEY; the batch gets keys, and the `capacity` smallest of both stay."""
    keyed = batch.append_column(KEY, pa.array(rng.random(batch.num_rows)))
    table = keyed if kept is None else pa.concat_tables([kept, keyed])
    if table.num_rows <= capacity:
        return table
    keys = table.column(KEY).to_numpy()
    smallest = np.argpartition(keys, capacity - 1)[:capacity]
    return table.take(pa.array(np.sort(smallest)))


def json_value(value: Any) -> Any:
    """A value as JSON can hold it (PostgreSQL's JSON refuses NaN; datetimes become ISO text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def window_start(moment: datetime, minutes: float) -> datetime:
    """The start of the window holding `moment`: windows start on multiples of their length since the epoch,
    so every replica puts a moment in the same window without agreeing on anything."""
    seconds = minutes * 60
    start = math.floor(moment.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(start, tz=UTC)


def window_length(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)
