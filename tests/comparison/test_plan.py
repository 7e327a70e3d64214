"""The pure parts of a comparison's plan: column kinds and schema differences."""

from __future__ import annotations

from services.comparison.compute import kind_of
from services.comparison.models import ColumnKind
from services.comparison.service import schema_difference


def test_numbers_and_times_on_both_sides_are_numeric_anything_else_categorical():
    assert kind_of("int64", "float64") is ColumnKind.NUMERIC
    assert kind_of("datetime64[us]", "date") is ColumnKind.NUMERIC
    assert kind_of("int64", "string") is ColumnKind.CATEGORICAL
    assert kind_of("bool", "bool") is ColumnKind.CATEGORICAL
    assert kind_of("int64", "datetime64[s]") is ColumnKind.CATEGORICAL  # a number and a time are not one scale


def test_schema_difference_lists_added_dropped_and_retyped_columns_in_table_order():
    reference = [
        {"name": "a", "dtype": "int64", "semantic_type": "NUMERIC"},
        {"name": "b", "dtype": "string", "semantic_type": "CATEGORICAL"},
        {"name": "c", "dtype": "int64", "semantic_type": "NUMERIC"},
    ]
    current = [
        {"name": "c", "dtype": "int64", "semantic_type": "CATEGORICAL"},
        {"name": "a", "dtype": "float64", "semantic_type": "NUMERIC"},
        {"name": "d", "dtype": "bool", "semantic_type": "BOOLEAN"},
    ]
    found = schema_difference(reference, current)
    assert found["added"] == [{"name": "d", "dtype": "bool", "semantic_type": "BOOLEAN"}]
    assert found["dropped"] == [{"name": "b", "dtype": "string", "semantic_type": "CATEGORICAL"}]
    assert [
        (c["name"], c["reference_dtype"], c["current_dtype"], c["current_semantic_type"]) for c in found["type_changed"]
    ] == [("a", "int64", "float64", "NUMERIC"), ("c", "int64", "int64", "CATEGORICAL")]


def test_times_compare_as_epoch_seconds_and_an_empty_side_is_not_tested(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy import stats

    from services.comparison.compute import Planned, compare_files

    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    pq.write_table(pa.table({"when": pa.array(days[:40]), "gone": pa.array([1.0] * 40)}), tmp_path / "a.parquet")
    pq.write_table(
        pa.table({"when": pa.array(days[20:]), "gone": pa.array([None] * 40, pa.float64())}), tmp_path / "b.parquet"
    )
    columns = [
        Planned("when", ColumnKind.NUMERIC, "date", "date", None, None, True),
        Planned("gone", ColumnKind.NUMERIC, "float64", "float64", None, None, True),
    ]
    statistics, tests, histograms, sampling = compare_files(
        reference=tmp_path / "a.parquet",
        current=tmp_path / "b.parquet",
        columns=columns,
        sample_rows=1000,
        memory_mb=256,
        scratch_dir=tmp_path / "scratch",
    )
    seconds = days.astype("datetime64[s]").astype("float64")
    reference, current = statistics["when"]
    assert reference.min == seconds[0] and current.max == seconds[-1] and reference.median == np.median(seconds[:40])
    expected = stats.ks_2samp(seconds[:40], seconds[20:])
    assert tests["when"].method == "KS" and tests["when"].statistic == expected.statistic
    assert tests["gone"].statistic is None and not tests["gone"].drifted and statistics["gone"][1].nulls == 40
    assert sum(histograms["when"][0]["counts"]) == 40 and not sampling.sampled
