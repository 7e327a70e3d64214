"""Cleaning steps as scikit-learn-compatible transformers on pandas DataFrames.

Each step is fitted once (`fit`), records everything it learned in `recipe()`, and can be rebuilt
from that recipe (`from_recipe`) to transform new data with the same numbers, never re-fitted.
Model training reuses these classes inside its pipelines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from services.preprocessing.values import cast_column, fill_for, numeric, pickle_state, plain, unpickle_state

KNN_DONOR_ROWS = 10_000  # KNN imputation looks for neighbours among this many complete rows
ONE_HOT_MAX_LEVELS = 20  # more levels than this fold into "<column>_other"


class Step(TransformerMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no type hints
    """Base: `params` are what the user asked, `fitted` what was learned from the data."""

    kind: ClassVar[str]

    def __init__(self, params: dict[str, Any] | None = None, fitted: dict[str, Any] | None = None) -> None:
        self.params = params or {}
        self.fitted = fitted

    def fit(self, frame: pd.DataFrame, y: Any = None) -> Step:
        self.fitted = self.learn(frame)
        return self

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        return {}

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        assert self.fitted is not None, "fit (or from_recipe) before transform"
        return self.apply(frame.copy(deep=False))

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    @property
    def learned(self) -> dict[str, Any]:
        """What fit learned (or the recipe recorded); `apply` runs only after `transform` checked it is there."""
        assert self.fitted is not None, "fit (or from_recipe) before transform"
        return self.fitted

    def recipe(self) -> dict[str, Any]:
        return {"step": self.kind, "params": self.params, "fitted": self.fitted}

    @property
    def columns(self) -> list[str]:
        return list(self.params.get("columns") or [])


class Impute(Step):
    kind = "impute"

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        strategy, columns = self.params["strategy"], self.columns
        if strategy in ("MEAN", "MEDIAN"):
            values = numeric(frame, columns)
            fills = values.mean() if strategy == "MEAN" else values.median()
            return {"fill": {c: plain(v) for c, v in fills.items()}}
        if strategy == "MODE":
            return {
                "fill": {
                    c: plain(frame[c].mode(dropna=True).iloc[0]) if frame[c].notna().any() else None for c in columns
                }
            }
        if strategy == "CONSTANT":
            return {"fill": {c: self.params.get("value") for c in columns}}
        if strategy == "KNN":
            complete = numeric(frame, columns).dropna()
            # Sorted back into row order: neighbours tied on distance are then chosen as scikit-learn would.
            donors = complete.sample(min(len(complete), KNN_DONOR_ROWS), random_state=0).sort_index()
            return {"donors": donors.to_numpy().tolist(), "neighbours": 5}
        if strategy == "ITERATIVE":
            values = numeric(frame, columns)
            return iterative_imputer(values.sample(min(len(values), 50_000), random_state=0))
        return {}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        strategy, columns = self.params["strategy"], self.columns
        if strategy in ("MEAN", "MEDIAN", "MODE", "CONSTANT"):
            for column, fill in self.learned["fill"].items():
                if fill is not None:
                    frame[column] = frame[column].fillna(fill_for(frame[column], fill))
        elif strategy == "KNN":
            from sklearn.impute import KNNImputer

            donors = np.array(self.learned["donors"], dtype=np.float64).reshape(-1, len(columns))
            values = numeric(frame, columns)
            missing = values.isna().any(axis=1).to_numpy()
            if missing.any() and len(donors):
                imputer = KNNImputer(n_neighbors=min(self.learned["neighbours"], len(donors))).fit(donors)
                values.loc[missing, :] = imputer.transform(values[missing].to_numpy())
            frame[columns] = values
        elif strategy == "ITERATIVE":
            imputer = unpickle_state(self.learned["_state"])
            frame[columns] = imputer.transform(numeric(frame, columns))
        elif strategy in ("FFILL", "BFILL", "INTERPOLATE"):
            order = self.params.get("order_by")
            ordered = frame.sort_values(order, kind="stable") if order else frame
            for column in columns:
                series = ordered[column]
                if strategy == "FFILL":
                    filled = series.ffill()
                elif strategy == "BFILL":
                    filled = series.bfill()
                else:
                    filled = (
                        pd.to_numeric(series, errors="coerce")
                        .astype(float)
                        .interpolate(method="linear", limit_direction="both")
                    )
                frame[column] = filled.reindex(frame.index)
        elif strategy == "DROP_ROWS":
            frame = frame.dropna(subset=columns).reset_index(drop=True)
        return frame


def iterative_imputer(sample: pd.DataFrame) -> dict[str, Any]:
    """What ITERATIVE imputation learns: scikit-learn's IterativeImputer fitted on `sample`, its state kept."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401 - importing it enables IterativeImputer
    from sklearn.impute import IterativeImputer

    imputer = IterativeImputer(random_state=0, max_iter=10).fit(sample)
    return {
        "estimator": "IterativeImputer",
        "max_iter": 10,
        "fitted_rows": len(sample),
        "_state": pickle_state(imputer),
    }


class Encode(Step):
    kind = "encode"

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        levels = {}
        for column in self.columns:
            counts = frame[column].dropna().astype(str).value_counts(sort=False)
            ordered = sorted(counts.index)  # stable, reproducible order: sorted level names
            if self.params["strategy"] == "ONE_HOT" and len(ordered) > ONE_HOT_MAX_LEVELS:
                frequent = counts.sort_values(ascending=False, kind="stable").index[:ONE_HOT_MAX_LEVELS]
                ordered = sorted(frequent)
            levels[column] = ordered
        return {"levels": levels}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column, levels in self.learned["levels"].items():
            text = frame[column].astype("string")
            if self.params["strategy"] in ("LABEL", "ORDINAL"):
                codes = pd.Categorical(text, categories=levels).codes.astype(float)
                codes[codes < 0] = np.nan  # unknown levels and nulls stay missing
                frame[column] = codes
            else:
                position = cast(int, frame.columns.get_loc(column))  # an int: column names are unique
                block = {f"{column}_{level}": (text == level).fillna(False).astype(np.int8) for level in levels}
                known = text.isin(levels).fillna(False)
                block[f"{column}_other"] = (~known & text.notna()).astype(np.int8)
                frame = pd.concat(
                    [frame.iloc[:, :position], pd.DataFrame(block, index=frame.index), frame.iloc[:, position + 1 :]],
                    axis=1,
                )
        return frame


class Scale(Step):
    kind = "scale"

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        values = numeric(frame, self.columns)
        strategy = self.params["strategy"]
        if strategy == "STANDARD":
            center, scale = values.mean(), values.std(ddof=0)
        elif strategy == "MINMAX":
            center, scale = values.min(), values.max() - values.min()
        else:
            center, scale = values.median(), values.quantile(0.75) - values.quantile(0.25)
        scale = scale.where(scale > 0, 1.0)
        return {"center": {c: plain(v) for c, v in center.items()}, "scale": {c: plain(v) for c, v in scale.items()}}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column in self.columns:
            frame[column] = (
                pd.to_numeric(frame[column], errors="coerce").astype(float) - self.learned["center"][column]
            ) / self.learned["scale"][column]
        return frame


class DropColumns(Step):
    kind = "dropColumns"

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=self.columns)


class RenameColumns(Step):
    kind = "renameColumns"

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.rename(columns=self.params["mapping"])


class Cast(Step):
    kind = "cast"

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        converted = cast_column(frame[self.params["column"]], self.params["to"], self.params.get("format"))
        failed = converted.isna() & frame[self.params["column"]].notna()
        sample = frame[self.params["column"]][failed].astype(str).head(5).tolist()
        return {"failures": int(failed.sum()), "failure_sample": sample}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        column = self.params["column"]
        converted = cast_column(frame[column], self.params["to"], self.params.get("format"))
        failed = converted.isna() & frame[column].notna()
        if failed.any() and self.params.get("on_error", "FAIL") == "FAIL":
            from services.errors import invalid

            sample = ", ".join(repr(v) for v in frame[column][failed].astype(str).head(5))
            raise invalid(
                f"{int(failed.sum()):,} value(s) of {column} cannot be cast to "
                f"{self.params['to']} (e.g. {sample}); use onError: NULL to set them to null"
            )
        frame[column] = converted
        return frame


class DatetimeFeatures(Step):
    kind = "datetimeFeatures"

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        parts = self.params.get("parts") or ["year", "month", "day", "weekday"]
        for column in self.columns:
            # utc=True: zone-aware values (and mixed ones from raw rows) become UTC; naive ones are taken as UTC
            when = pd.to_datetime(frame[column], errors="coerce", utc=True).dt.tz_localize(None)
            features: dict[str, pd.Series] = {
                "year": when.dt.year,
                "quarter": when.dt.quarter,
                "month": when.dt.month,
                "day": when.dt.day,
                "weekday": when.dt.weekday,
                "hour": when.dt.hour,
                "minute": when.dt.minute,
                "is_weekend": (when.dt.weekday >= 5).where(when.notna()),
                "epoch": (when - pd.Timestamp("1970-01-01")).dt.total_seconds(),
            }
            for part in parts:
                frame[f"{column}_{part}"] = features[part].astype(float)
        return frame


class DropDuplicates(Step):
    kind = "dropDuplicates"

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop_duplicates(subset=self.params.get("columns") or None).reset_index(drop=True)


class ClipOutliers(Step):
    kind = "clipOutliers"

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        values = numeric(frame, self.columns)
        q1, q3 = values.quantile(0.25), values.quantile(0.75)
        factor = float(self.params.get("factor", 1.5))
        low, high = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
        return {"low": {c: plain(v) for c, v in low.items()}, "high": {c: plain(v) for c, v in high.items()}}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column in self.columns:
            frame[column] = (
                pd.to_numeric(frame[column], errors="coerce")
                .astype(float)
                .clip(self.learned["low"][column], self.learned["high"][column])
            )
        return frame


class Derive(Step):
    """A new (or replaced) column computed from an expression by DuckDB (services.expressions): row by
    row, so it learns nothing and streams batch by batch like the other stateless steps."""

    kind = "derive"

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        from services.expressions import evaluate, parse

        expression = parse(self.params["expression"], list(frame.columns), ["expression"])
        frame[self.params["name"]] = evaluate(expression, frame)
        return frame


STEP_CLASSES: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (
        Impute,
        Encode,
        Scale,
        DropColumns,
        RenameColumns,
        Cast,
        DatetimeFeatures,
        DropDuplicates,
        ClipOutliers,
        Derive,
    )
}


def build_step(kind: str, params: dict[str, Any], fitted: dict[str, Any] | None = None) -> Step:
    return STEP_CLASSES[kind](params=params, fitted=fitted)


def fit_recipe(
    frame: pd.DataFrame,
    steps: list[tuple[str, dict[str, Any]]],
    on_step: Callable[[int, Step, pd.DataFrame, pd.DataFrame], None] | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Fit and apply each step in order; return the result and the recipe with every fitted parameter."""
    recipe = []
    for index, (kind, params) in enumerate(steps):
        step = build_step(kind, params)
        before = frame
        frame = step.fit(frame).transform(frame)
        recipe.append(step.recipe())
        if on_step:
            on_step(index, step, before, frame)
    return frame, recipe


def apply_recipe(frame: pd.DataFrame, recipe: list[dict[str, Any]]) -> pd.DataFrame:
    """Re-apply a fitted recipe to new rows with the recorded parameters (no re-fitting)."""
    for entry in recipe:
        frame = build_step(entry["step"], entry["params"], entry["fitted"]).transform(frame)
    return frame
