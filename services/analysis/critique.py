"""The analysis's critique: QA findings a reader of the report should weigh before trusting the model —
target leakage, class imbalance, too little data, and drift between the training and the held-out split."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from services.analysis.models import Finding
from services.drift import drift_test

LEAKAGE_CORRELATION = 0.98
MINORITY_WARNING, MINORITY_CRITICAL = 0.10, 0.02  # the rarest class's share of the labelled rows
SMALL_ROWS_WARNING, SMALL_ROWS_CRITICAL = 500, 100  # labelled rows
ROWS_PER_FEATURE = 10  # fewer rows per feature than this overfits easily


def leaking_features(frame: pd.DataFrame, target: str, features: list[str], task: str) -> list[tuple[str, str]]:
    """Features that (nearly) determine the target: |correlation| >= 0.98 for regression; for classes, a feature
    whose every value maps to one label in >= 99% of rows while repeating (not an identifier)."""
    found = []
    rows = frame.dropna(subset=[target])
    for name in features:
        column = rows[name]
        if task == "REGRESSION":
            if pd.api.types.is_numeric_dtype(column):
                value = column.corr(rows[target])
                if pd.notna(value) and abs(value) >= LEAKAGE_CORRELATION:
                    found.append((name, f"correlation {value:.3f}"))
            continue
        present = rows[[name, target]].dropna()
        if present.empty or present[name].nunique() > 0.5 * len(present):
            continue
        majority = present.groupby(name)[target].agg(lambda labels: labels.value_counts().iloc[0]).sum()
        purity = majority / len(present)
        if purity >= 0.99:
            found.append((name, f"its values give the label in {purity:.1%} of rows"))
    return found


def critique(
    frame: pd.DataFrame, *, target: str, features: list[str], task: str, test_size: float, seed: int
) -> list[Finding]:
    """Every finding, most severe kinds first. `frame` holds the labelled rows the model was trained from; the
    split is redone with the model's seed and test size, so the drift compared is the one it was scored across."""
    frame = frame[frame[target].notna()].reset_index(drop=True)
    findings = [
        Finding(
            kind="LEAKAGE",
            severity="CRITICAL",
            columns=[name, target],
            message=f"Possible leakage: {name} is almost identical to {target} ({how})",
        )
        for name, how in leaking_features(frame, target, features, task)
    ]
    findings += _imbalance(frame[target], target) if task == "CLASSIFICATION" else []
    findings += _small_data(len(frame), len(features), target)
    findings += _split_drift(frame, target, features, task, test_size, seed)
    return findings


def _imbalance(labels: pd.Series, target: str) -> list[Finding]:
    shares = labels.astype(str).value_counts(normalize=True)
    if len(shares) < 2 or shares.iloc[-1] >= MINORITY_WARNING:
        return []
    rarest, share = shares.index[-1], float(shares.iloc[-1])
    return [
        Finding(
            kind="CLASS_IMBALANCE",
            severity="CRITICAL" if share < MINORITY_CRITICAL else "WARNING",
            columns=[target],
            message=f"Class imbalance: {rarest!r} is {share:.1%} of {target}; accuracy "
            "flatters a model that ignores it (look at the confusion matrix)",
        )
    ]


def _small_data(rows: int, features: int, target: str) -> list[Finding]:
    if rows < SMALL_ROWS_WARNING:
        return [
            Finding(
                kind="SMALL_DATA",
                severity="CRITICAL" if rows < SMALL_ROWS_CRITICAL else "WARNING",
                columns=[target],
                message=f"Small data: {rows:,} labelled rows; scores vary a lot between samples this size",
            )
        ]
    if features and rows / features < ROWS_PER_FEATURE:
        return [
            Finding(
                kind="SMALL_DATA",
                severity="WARNING",
                columns=[],
                message=f"Small data: {rows / features:.1f} rows per feature ({rows:,} rows, {features} "
                "features); the model may learn noise",
            )
        ]
    return []


def _split_drift(
    frame: pd.DataFrame, target: str, features: list[str], task: str, test_size: float, seed: int
) -> list[Finding]:
    labels = frame[target].astype(str) if task == "CLASSIFICATION" else frame[target]
    try:
        train, test = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=labels if task == "CLASSIFICATION" else None
        )
    except ValueError:  # too few rows of a class to stratify: the model could not have been split either
        return []
    found = []
    for name in features:
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name])
        result = drift_test(train[name], test[name], numeric=numeric, column=name)
        if result.drifted:
            score = f"p = {result.p_value:.3g}" if result.p_value is not None else f"{result.statistic:.3g}"
            found.append(
                Finding(
                    kind="DRIFT",
                    severity="WARNING",
                    columns=[name],
                    message=f"Drift between the training and held-out split: {name} differs "
                    f"({result.method}, {score}, threshold {result.threshold:g}); the held-out "
                    "score may not say how the model does on the training distribution",
                )
            )
    return found
