"""Cell values as JSON carries them; light enough for job workers to import (no database modules)."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa


def json_value(value: Any) -> Any:
    """A JSON-safe cell: NaN and infinities become null, dates ISO strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def json_rows(table: pa.Table) -> list[list[Any]]:
    """The table's rows, row-major, each cell JSON-safe (column by column: repeated names stay apart)."""
    columns = [column.to_pylist() for column in table.columns]
    return [[json_value(column[r]) for column in columns] for r in range(table.num_rows)]
