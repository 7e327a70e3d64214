"""The faster ways the in-memory profile computes its figures give exactly what the plain ways gave: MAD by
binary search against np.median, counts from the sorted values against direct counts, ranks against scipy,
one sort of an all-unique time column against Arrow's hash kernel. Pure functions: no server."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from services.profiling.column_profile import value_hashes
from services.profiling.columns import (
    encoded_levels,
    finite_or_none,
    hashed_levels,
    monotonic,
    most_frequent,
    numeric_levels,
    numeric_stats,
    sorted_mad,
    text_stats,
    top_values,
)
from services.profiling.datetime_columns import datetime_seconds, moment_integers, unique_moment_levels
from services.profiling.statistics import average_ranks


def arrays(seed: int = 0):
    """Values of the kinds that trip selection and rounding: ties, signed zeros, huge and tiny magnitudes."""
    rng = np.random.default_rng(seed)
    for trial in range(3000):
        n = int(rng.integers(1, 60)) if trial % 10 else int(rng.integers(60, 4000))
        kind = trial % 5
        if kind == 0:
            yield rng.normal(size=n)
        elif kind == 1:
            yield rng.integers(-3, 4, n).astype(float)
        elif kind == 2:
            yield np.round(rng.lognormal(size=n), 2)
        elif kind == 3:
            yield np.full(n, rng.normal())
        else:
            yield rng.choice([-0.0, 0.0, 1e-300, -1e-300, 5.0, 1e300, -1e300], n)


def test_mad_by_binary_search_is_np_median_bit_for_bit():
    for values in arrays():
        ordered = np.sort(values)
        mean = ordered.sum() / ordered.size
        median = float(np.median(ordered))
        deviations = ordered - mean
        expected = float(np.median(np.abs(deviations + (mean - median))))
        assert sorted_mad(deviations, mean - median) == expected, values


def test_counts_from_the_sorted_values_match_direct_counts():
    rng = np.random.default_rng(3)
    values = rng.choice([-np.inf, np.inf, -0.0, 0.0, -2.5, 3.0, 7.0], 5000)
    found = numeric_stats(values, np.sort(values))
    finite = values[np.isfinite(values)]
    assert found["zeros"] == np.count_nonzero(values == 0) and found["negatives"] == np.count_nonzero(values < 0)
    assert found["infinite"] == np.count_nonzero(~np.isfinite(values))
    assert (
        found["min"] == finite.min() and found["max"] == finite.max() and found["sum"] == float(np.sort(finite).sum())
    )
    assert numeric_stats(np.array([np.inf, -np.inf]), np.array([-np.inf, np.inf])) == {
        "zeros": 0,
        "negatives": 1,
        "infinite": 2,
        "outliers": 0,
        "monotonic": None,
    }


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.arange(5000.0), "increasing"),
        (np.r_[np.arange(3000.0), 10.0, np.arange(3000.0, 4000.0)], None),  # the probe passes, the full pass does not
        (-np.arange(5000.0), "decreasing"),
        (np.full(5000, 2.0), None),  # constant is neither
        (np.r_[1.0, 0.0, np.arange(5000.0)], None),  # the probe decides
        (np.array([3.0]), None),
    ],
)
def test_monotonic_probe_then_full_pass(values, expected):
    assert monotonic(values) == expected


def test_average_ranks_match_scipy_with_ties_and_missing_values():
    rng = np.random.default_rng(2)
    for trial in range(300):
        values = (rng.integers(0, 15, 400) if trial % 2 else rng.normal(size=400)).astype(float)
        values[rng.random(400) < 0.2] = np.nan
        present = ~np.isnan(values)
        ranks = average_ranks(values)
        assert np.array_equal(ranks[present], stats.rankdata(values[present], method="average"))
        assert np.isnan(ranks[~present]).all()


def test_an_all_unique_time_column_gets_the_hash_kernels_top_values_from_one_sort():
    rng = np.random.default_rng(4)
    stamps = np.datetime64("2021-03-01T00:00:00") + rng.permutation(3000).astype("timedelta64[s]")
    column = pa.chunked_array(
        [pa.array(stamps[:1000], mask=rng.random(1000) < 0.1), pa.array(stamps[1000:]).cast(pa.timestamp("s"))]
    )
    count = len(column) - column.null_count
    found = unique_moment_levels(column, moment_integers(column))
    expected = top_values(column, count)
    assert found[0] == expected[0] and found[1] == expected[1] and np.array_equal(found[2], expected[2])
    repeated = pa.chunked_array([pa.array(np.r_[stamps[:10], stamps[:1]])])
    assert unique_moment_levels(repeated, moment_integers(repeated)) is None  # a repeat: the hash kernel decides
    dates = pa.chunked_array([pa.array(np.datetime64("1950-01-01") + rng.permutation(500).astype("timedelta64[D]"))])
    assert unique_moment_levels(dates, moment_integers(dates))[0] == top_values(dates, 500)[0]


def test_sub_second_timestamps_are_floored_to_seconds_as_the_engine_does():
    column = pa.chunked_array([pa.array([1500, -1500, None, 2000], pa.timestamp("ms", tz="UTC"))])
    assert datetime_seconds(column).tolist() == [1.0, -2.0, 2.0]
    nanos = pa.chunked_array([pa.array([1_999_999_999], pa.timestamp("ns"))])
    assert datetime_seconds(nanos).tolist() == [1.0]
    days = pa.chunked_array([pa.array([1, 2], pa.date32())])
    assert datetime_seconds(days).tolist() == pc.cast(pc.cast(days, pa.timestamp("s")), pa.int64()).to_numpy().tolist()


def test_levels_from_sorted_hashes_are_value_counts_levels_in_the_same_order():
    """hashed_levels against Arrow's hash table: the same levels in the same first-seen order with the same counts,
    with a real hash (DuckDB's, as the profile uses), with no nulls, and with hashes that collide on purpose (all
    equal, or only the string's length): colliding strings are compared, never merged."""
    rng = np.random.default_rng(5)
    words = np.array([f"word {k}" for k in range(700)] + ["", "é", "a\x00b"])
    column = pa.chunked_array(
        [
            pa.array(words[rng.integers(0, len(words), 900)], mask=rng.random(900) < 0.1),
            pa.array([], pa.string()),
            pa.array(words[rng.integers(0, len(words), 400)]),
            pa.array([f"unique {k}" for k in range(300)], pa.string()),
        ]
    )
    connection = duckdb.connect()
    present = pc.drop_null(column)
    expected = pc.value_counts(present)
    for hashes in (
        value_hashes(connection)(present),
        np.zeros(len(present), np.uint64),
        pc.utf8_length(present).to_numpy().astype(np.uint64),
        np.arange(len(present), dtype=np.uint64)[::-1].copy(),  # every hash distinct, the repeats missed
    ):
        first_rows, counts = hashed_levels(present, hashes.copy())
        if len(np.unique(hashes)) == len(hashes):  # a hash telling equal strings apart is no hash: not used
            continue
        assert pc.take(present, pa.array(first_rows)).combine_chunks().equals(expected.field("values"))
        assert counts.tolist() == expected.field("counts").to_pylist()
    plain = top_values(column, 1300)
    hashed = top_values(column, 1300, hashes=value_hashes(connection))
    assert plain[:2] == hashed[:2] and np.array_equal(plain[2], hashed[2])
    for many_ties in (pa.chunked_array([pa.array(words[rng.integers(0, 60, 5000)], pa.large_string())]),):
        assert top_values(many_ties, 5000)[:2] == top_values(many_ties, 5000, hashes=value_hashes(connection))[:2]
    empty = pa.chunked_array([pa.array([None, None], pa.string())])
    assert top_values(empty, 0, hashes=value_hashes(connection))[:2] == ([], 0)
    assert hashed_levels(pa.array(["x"]), np.array([7], np.uint64))[1].tolist() == [1]


def test_levels_counted_by_code_are_value_counts_levels_and_the_lengths_match():
    """A category read as dictionary codes: the levels in first-seen order, their counts and the text lengths
    are those of the decoded values; a dictionary not in first-seen order (or with a repeated or null entry) is
    refused, so the profile decodes it instead."""
    rng = np.random.default_rng(8)
    words = np.array(["north", "south", "", "é-ñ", "west", "east 2"])
    batches = [words[rng.integers(0, k, 700)] for k in (2, 6, 4)]
    masks = [rng.random(700) < 0.2 for _ in batches]
    column = pa.chunked_array(
        [pa.array(values, mask=mask).dictionary_encode() for values, mask in zip(batches, masks, strict=True)]
        + [pa.array([], pa.string()).dictionary_encode()]
    )
    decoded = pc.cast(column, pa.string())
    expected = pc.value_counts(pc.drop_null(decoded))
    levels, counts = encoded_levels(column)
    assert levels.equals(expected.field("values")) and counts.tolist() == expected.field("counts").to_pylist()
    non_null = len(decoded) - decoded.null_count
    assert top_values(column, non_null, levels=(levels, counts))[:2] == top_values(decoded, non_null)[:2]
    assert text_stats(column, (levels, counts)) == text_stats(decoded)
    backwards = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), pa.array(["b", "a"]))
    repeated = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a", "a"]))
    null_entry = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["a", None]))
    for refused in (backwards, repeated, null_entry, pa.array([None, None], pa.string()).dictionary_encode()):
        assert encoded_levels(pa.chunked_array([refused])) is None
    many = pa.chunked_array([pa.array([f"v{k}" for k in rng.integers(0, 3000, 20_000)]).dictionary_encode()])
    levels, counts = encoded_levels(many)
    assert text_stats(many, (levels, counts)) == text_stats(pc.cast(many, pa.string()))


def test_levels_of_numbers_from_one_sort_match_the_plain_computation():
    """numeric_levels' all-distinct shortcut and in-place comparison give the plain way's levels and counts."""
    for values in [*arrays(), np.empty(0), np.arange(5000.0)[::-1].copy()]:
        ordered = np.sort(values)
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if ordered.size else np.empty(0, np.int64)
        frequencies = np.diff(np.r_[starts, ordered.size])
        order = most_frequent(frequencies)
        expected = [(finite_or_none(ordered[starts][i]), int(frequencies[i])) for i in order]
        top, distinct, counts, found = numeric_levels(values, max(1, values.size), False)
        assert [(entry["value"], entry["count"]) for entry in top] == expected and distinct == starts.size
        assert counts.dtype == frequencies.dtype and np.array_equal(counts, frequencies)
        assert np.array_equal(found, ordered)
