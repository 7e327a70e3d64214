"""The values the cleaning steps read and record: columns as numbers, casts, fill values that match a column,
JSON-safe scalars for a recipe, and a fitted estimator's state kept in one."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd


def numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    numbers: pd.DataFrame = frame[columns].apply(pd.to_numeric, errors="coerce")
    return numbers.astype(float)


def cast_column(series: pd.Series, to: str, fmt: str | None) -> pd.Series:
    if to == "NUMERIC":
        return pd.to_numeric(series, errors="coerce")
    if to == "DATETIME":
        return pd.to_datetime(series, format=fmt, errors="coerce")
    if to == "BOOLEAN":
        mapping = {
            "true": True,
            "false": False,
            "yes": True,
            "no": False,
            "1": True,
            "0": False,
            "t": True,
            "f": False,
            "y": True,
            "n": False,
            "1.0": True,
            "0.0": False,
        }
        return series.astype("string").str.strip().str.lower().map(mapping).astype("boolean")
    if to in ("CATEGORICAL", "TEXT", "IDENTIFIER"):
        return series.astype("string")
    if to == "EMPTY":
        return pd.Series(pd.NA, index=series.index, dtype="string")
    raise ValueError(to)


def fill_for(series: pd.Series, fill: Any) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series) and isinstance(fill, str):
        return pd.Timestamp(fill)
    if (
        isinstance(fill, str)
        and series.dtype == object
        and isinstance(series.dropna().iloc[0] if series.notna().any() else None, date)
    ):
        return date.fromisoformat(fill[:10])  # a column of dates (Arrow date32) keeps date objects
    return fill


def plain(value: Any) -> Any:
    """A JSON-safe scalar for the recipe."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (pd.Timestamp, date)):  # datetime.date too: Arrow date32 columns hold them
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def pickle_state(estimator: Any) -> str:
    """A fitted estimator's state for the stored recipe (a private key: the API never shows it and no
    user input ever reaches unpickle_state — recipes are only written by our own jobs)."""
    import base64
    import pickle

    return base64.b64encode(pickle.dumps(estimator)).decode()


def unpickle_state(state: str) -> Any:
    import base64
    import pickle

    return pickle.loads(base64.b64decode(state))  # noqa: S301 - written by our own job, never by a user
