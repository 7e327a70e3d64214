"""The window sample: bounded, uniform, and merged across writers exactly as if one writer saw everything."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from services.monitoring.sample import KEY, BottomK, bottom_k_table, json_value, merge, window_start


def test_a_sample_never_holds_more_than_its_capacity_and_keeps_the_smallest_keys():
    sample = BottomK(10, rng=random.Random(1))
    for index in range(1000):
        sample.offer({"x": index}, index)
    items = sample.items()
    assert len(items) == 10 == len(sample)
    keys = [item[KEY] for item in items]
    assert keys == sorted(keys) and keys[-1] < 0.05  # the 10 smallest of 1000 uniform keys


def test_merging_writers_samples_equals_one_writer_seeing_every_row():
    rng = random.Random(3)
    everything = BottomK(25, rng=random.Random(0))
    writers = [BottomK(25, rng=random.Random(0)) for _ in range(3)]
    for index in range(3000):
        key = rng.random()
        item = {KEY: key, "in": {"x": index}, "out": "a"}
        everything._push(key, item)
        writers[index % 3]._push(key, item)
    assert merge((w.items() for w in writers), 25) == everything.items()


def test_every_row_is_equally_likely_to_be_sampled():
    hits = np.zeros(20)
    for seed in range(4000):
        first, second = BottomK(5, rng=random.Random(seed)), BottomK(5, rng=random.Random(seed + 10**6))
        for index in range(20):  # one writer saw 4 rows, the other 16: the merge must not favour either
            (first if index < 4 else second).offer({"x": index}, None)
        for item in merge([first.items(), second.items()], 5):
            hits[item["in"]["x"]] += 1
    assert np.allclose(hits / 4000, 5 / 20, atol=0.03), hits / 4000


def test_the_arrow_sample_over_batches_is_bounded_and_keyed():
    rng = np.random.default_rng(0)
    kept = None
    for start in range(0, 10_000, 1000):
        kept = bottom_k_table(kept, pa.table({"x": np.arange(start, start + 1000)}), 50, rng)
    assert kept.num_rows == 50 and kept.column_names == ["x", KEY]
    assert len(set(kept.column("x").to_pylist())) == 50


def test_windows_start_on_multiples_of_their_length():
    moment = datetime(2026, 12, 5, 20, 47, 13, tzinfo=UTC)
    assert window_start(moment, 60) == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert window_start(moment, 15) == datetime(2026, 12, 5, 20, 45, tzinfo=UTC)
    assert window_start(moment, 0.1) == datetime(2026, 12, 5, 20, 47, 12, tzinfo=UTC)


def test_values_are_stored_as_json_can_hold_them():
    assert json_value(float("nan")) is None and json_value(float("inf")) is None
    assert json_value(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"
    assert json_value(3) == 3 and json_value("a") == "a"


def test_a_sample_is_serialized_in_slices_to_the_same_json():
    import asyncio
    import json

    from services.monitoring.sample import serialized

    items = [{KEY: i / 100, "in": {"x": i, "s": "é"}, "out": "a"} for i in range(123)]
    for rows in (items, items[:1], []):
        assert json.loads(asyncio.run(serialized(rows, slice_rows=50))) == rows


def test_the_changed_flag_says_whether_the_sample_must_be_written_again():
    sample = BottomK(2, rng=random.Random(0))
    sample.offer({"x": 1}, None)
    assert sample.changed
    sample.changed = False
    sample._push(0.99, {KEY: 0.99})
    sample._push(0.01, {KEY: 0.01})
    sample.changed = False
    sample._push(0.999, {KEY: 0.999})  # larger than every kept key: the sample is the same
    assert not sample.changed
