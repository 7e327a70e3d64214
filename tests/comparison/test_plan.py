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
    reference = [{"name": "a", "dtype": "int64", "semantic_type": "NUMERIC"},
                 {"name": "b", "dtype": "string", "semantic_type": "CATEGORICAL"},
                 {"name": "c", "dtype": "int64", "semantic_type": "NUMERIC"}]
    current = [{"name": "c", "dtype": "int64", "semantic_type": "CATEGORICAL"},
               {"name": "a", "dtype": "float64", "semantic_type": "NUMERIC"},
               {"name": "d", "dtype": "bool", "semantic_type": "BOOLEAN"}]
    found = schema_difference(reference, current)
    assert found["added"] == [{"name": "d", "dtype": "bool", "semantic_type": "BOOLEAN"}]
    assert found["dropped"] == [{"name": "b", "dtype": "string", "semantic_type": "CATEGORICAL"}]
    assert [(c["name"], c["reference_dtype"], c["current_dtype"], c["current_semantic_type"])
            for c in found["type_changed"]] == [("a", "int64", "float64", "NUMERIC"), ("c", "int64", "int64", "CATEGORICAL")]
