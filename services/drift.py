"""Distribution drift between a reference sample and a current one: the statistics only.

Comparisons, model monitors, check suites and the analysis critique all ask the same question of
two columns, so they share these functions. Each statistic is scipy's on the non-null values, so a
result can be checked against scipy directly. The method is chosen per column the way Evidently's
defaults do (its DataDriftPreset): small references get a hypothesis test with a p-value, large
ones a distance, because with many rows every test's p-value goes to zero on differences nobody
cares about.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance


class DriftMethod(StrEnum):
    KS = "KS"  # Kolmogorov-Smirnov two-sample test: drift when p < threshold
    WASSERSTEIN = "WASSERSTEIN"  # Wasserstein distance / reference std: drift when >= threshold
    CHI_SQUARE = "CHI_SQUARE"  # chi-square test of homogeneity of the category counts: p < threshold
    JENSEN_SHANNON = "JENSEN_SHANNON"  # Jensen-Shannon distance of the category frequencies: >= threshold
    PSI = "PSI"  # population stability index over reference bins: >= threshold


# Tests answer a p-value (drift below the threshold); distances answer a distance (drift at or above it).
P_VALUE_METHODS = frozenset({DriftMethod.KS, DriftMethod.CHI_SQUARE})
DEFAULT_THRESHOLDS = {
    DriftMethod.KS: 0.05,
    DriftMethod.CHI_SQUARE: 0.05,
    DriftMethod.WASSERSTEIN: 0.1,
    DriftMethod.JENSEN_SHANNON: 0.1,
    DriftMethod.PSI: 0.1,
}
NUMERIC_METHODS = frozenset({DriftMethod.KS, DriftMethod.WASSERSTEIN, DriftMethod.PSI})
CATEGORICAL_METHODS = frozenset({DriftMethod.CHI_SQUARE, DriftMethod.JENSEN_SHANNON, DriftMethod.PSI})
# Evidently's switch from tests to distances, and the distinct-value count under which a number is a category.
SMALL_REFERENCE_ROWS = 1000
FEW_DISTINCT_VALUES = 5
# The share of drifted columns at which a whole dataset is said to drift (Evidently's default).
DATASET_DRIFT_SHARE = 0.5
PSI_BINS = 10
_PSI_FLOOR = 1e-4  # an empty bin would make the logarithm infinite


@dataclass(frozen=True)
class DriftTest:
    column: str
    method: DriftMethod
    statistic: float | None  # None when either side has no values
    p_value: float | None  # for KS and chi-square
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int

    @property
    def score(self) -> float | None:
        """What is compared with the threshold: the p-value of a test, else the statistic."""
        return self.p_value if self.method in P_VALUE_METHODS else self.statistic

    def figures(self) -> dict[str, Any]:
        """The test's figures as a stored finding repeats them (a check's DriftFinding, a comparison's DriftResult)."""
        return {
            "method": self.method.value,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
        }


def choose_method(*, numeric: bool, reference_rows: int, distinct_values: int) -> DriftMethod:
    """Evidently's defaults: a number with few distinct values is treated as a category."""
    small = reference_rows <= SMALL_REFERENCE_ROWS
    if numeric and distinct_values > FEW_DISTINCT_VALUES:
        return DriftMethod.KS if small else DriftMethod.WASSERSTEIN
    return DriftMethod.CHI_SQUARE if small else DriftMethod.JENSEN_SHANNON


def valid_threshold(method: DriftMethod, threshold: float) -> bool:
    """p-values and the bounded distances live in (0, 1]; PSI and normed Wasserstein are unbounded above."""
    if not np.isfinite(threshold) or threshold <= 0:
        return False
    return threshold <= 1 or method in (DriftMethod.PSI, DriftMethod.WASSERSTEIN)


def drift_test(
    reference: pd.Series,
    current: pd.Series,
    *,
    numeric: bool,
    method: DriftMethod | None = None,
    threshold: float | None = None,
    column: str = "",
) -> DriftTest:
    """Test one column. `numeric` says how to read the values; nulls are left out of both sides."""
    ref = reference.dropna()
    cur = current.dropna()
    if numeric:
        ref = pd.to_numeric(ref, errors="coerce").dropna().astype("float64")
        cur = pd.to_numeric(cur, errors="coerce").dropna().astype("float64")
    chosen = method or choose_method(numeric=numeric, reference_rows=len(ref), distinct_values=int(ref.nunique()))
    if numeric is False and chosen in (DriftMethod.KS, DriftMethod.WASSERSTEIN):
        raise ValueError(f"{chosen} needs numbers")
    limit = DEFAULT_THRESHOLDS[chosen] if threshold is None else float(threshold)
    if ref.empty or cur.empty:
        return DriftTest(column, chosen, None, None, limit, False, len(ref), len(cur))
    statistic, p_value = _measure(chosen, ref, cur, numeric)
    score = p_value if chosen in P_VALUE_METHODS else statistic
    drifted = score is not None and (bool(score < limit) if chosen in P_VALUE_METHODS else bool(score >= limit))
    return DriftTest(column, chosen, statistic, p_value, limit, drifted, len(ref), len(cur))


def drift_share(tests: list[DriftTest]) -> float:
    """The share of tested columns (those with values on both sides) that drifted."""
    tested = [test for test in tests if test.statistic is not None]
    return sum(test.drifted for test in tested) / len(tested) if tested else 0.0


def _measure(method: DriftMethod, ref: pd.Series, cur: pd.Series, numeric: bool) -> tuple[float, float | None]:
    if method is DriftMethod.KS:
        result = stats.ks_2samp(ref.to_numpy(), cur.to_numpy())
        return float(result.statistic), float(result.pvalue)
    if method is DriftMethod.WASSERSTEIN:
        return wasserstein_normed(ref.to_numpy(), cur.to_numpy()), None
    if method is DriftMethod.CHI_SQUARE:
        ref_counts, cur_counts = _category_counts(ref, cur)
        if len(ref_counts) < 2:  # one category on both sides: nothing can differ
            return 0.0, 1.0
        statistic, p_value, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]))
        return float(statistic), float(p_value)
    if method is DriftMethod.JENSEN_SHANNON:
        ref_counts, cur_counts = _category_counts(ref, cur)
        return float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())), None
    ref_share, cur_share = _psi_shares(ref, cur, numeric)
    return population_stability_index(ref_share, cur_share), None


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's Wasserstein distance in units of the reference's standard deviation (Evidently's norm), so
    one threshold fits every column's scale; a constant reference uses a tiny std instead of zero."""
    spread = float(np.std(reference)) or 0.001
    return float(stats.wasserstein_distance(reference, current)) / spread


def population_stability_index(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    ref = np.clip(reference_share, _PSI_FLOOR, None)
    cur = np.clip(current_share, _PSI_FLOOR, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _category_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts over the union of both sides' categories, in one order (a new category counts 0 in the reference)."""
    ref_counts = ref.astype(str).value_counts()
    cur_counts = cur.astype(str).value_counts()
    keys = sorted(set(ref_counts.index) | set(cur_counts.index))
    return (
        ref_counts.reindex(keys, fill_value=0).to_numpy(dtype="float64"),
        cur_counts.reindex(keys, fill_value=0).to_numpy(dtype="float64"),
    )


def _psi_shares(ref: pd.Series, cur: pd.Series, numeric: bool) -> tuple[np.ndarray, np.ndarray]:
    if not numeric:
        ref_counts, cur_counts = _category_counts(ref, cur)
        return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    # Bins are the reference's deciles, so each holds a tenth of it; values outside its range fall in the ends.
    edges = np.unique(np.quantile(ref.to_numpy(), np.linspace(0, 1, PSI_BINS + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    ref_hist = np.histogram(ref.to_numpy(), bins=edges)[0].astype("float64")
    cur_hist = np.histogram(cur.to_numpy(), bins=edges)[0].astype("float64")
    return ref_hist / ref_hist.sum(), cur_hist / cur_hist.sum()
