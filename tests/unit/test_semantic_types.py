"""The semantic types a column can be judged to have are the services' enum, which the schema shows as is."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from schema.common import SemanticType as ShownSemanticType
from services.ingest.types import SemanticType, semantic_type
from services.preprocessing.validate import SEMANTIC_TYPES

COLUMNS = {
    "price": pa.chunked_array([[1.5, 2.25, 3.0]]),
    "flag": pa.chunked_array([[True, False, True]]),
    "when": pa.chunked_array([[datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]]),
    "colour": pa.chunked_array([["red", "blue", "red", "green"] * 20]),
    "note": pa.chunked_array([["a sentence long enough to count as free text, not a level"] * 3]),
    "order_id": pa.chunked_array([list(range(100))]),
    "blank": pa.chunked_array([pa.nulls(3)]),
}


def test_every_judgement_is_a_member_and_every_member_can_be_judged():
    judged = {semantic_type(name, column) for name, column in COLUMNS.items()}
    assert judged == set(SemanticType)


def test_the_schema_and_the_cast_step_use_the_same_types():
    assert ShownSemanticType is SemanticType
    assert {kind.value for kind in SemanticType} == SEMANTIC_TYPES
