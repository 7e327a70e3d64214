"""The drift statistics equal scipy's on the same values, and the method is chosen the way Evidently does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from services.drift import (
    DriftMethod,
    choose_method,
    drift_share,
    drift_test,
    population_stability_index,
    valid_threshold,
)

RNG = np.random.default_rng(7)


def test_small_numeric_columns_get_kolmogorov_smirnov_equal_to_scipy():
    ref, cur = RNG.normal(0, 1, 500), RNG.normal(0.5, 1, 400)
    result = drift_test(pd.Series(ref), pd.Series(cur), numeric=True, column="x")
    expected = stats.ks_2samp(ref, cur)
    assert result.method is DriftMethod.KS and result.column == "x"
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.drifted and result.threshold == 0.05


def test_large_numeric_columns_get_wasserstein_in_reference_standard_deviations():
    ref, cur = RNG.normal(10, 2, 5000), RNG.normal(10.1, 2, 5000)
    result = drift_test(pd.Series(ref), pd.Series(cur), numeric=True)
    assert result.method is DriftMethod.WASSERSTEIN and result.p_value is None
    assert result.statistic == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))
    assert not result.drifted  # a 0.05-std shift is below the 0.1 threshold
    shifted = drift_test(pd.Series(ref), pd.Series(ref + 1), numeric=True)
    assert shifted.drifted and shifted.statistic == pytest.approx(1 / np.std(ref))


def test_categories_get_chi_square_when_small_and_jensen_shannon_when_large():
    ref = pd.Series(["a"] * 300 + ["b"] * 200 + [None] * 10)
    cur = pd.Series(["a"] * 100 + ["b"] * 250 + ["c"] * 50)
    result = drift_test(ref, cur, numeric=False)
    table = np.array([[300, 200, 0], [100, 250, 50]])
    chi2, p_value, _, _ = stats.chi2_contingency(table)
    assert result.method is DriftMethod.CHI_SQUARE and result.reference_count == 500
    assert result.statistic == pytest.approx(chi2) and result.p_value == pytest.approx(p_value) and result.drifted

    big_ref = pd.Series(["a"] * 3000 + ["b"] * 2000)
    big_cur = pd.Series(["a"] * 2900 + ["b"] * 2100)
    large = drift_test(big_ref, big_cur, numeric=False)
    assert large.method is DriftMethod.JENSEN_SHANNON
    assert large.statistic == pytest.approx(distance.jensenshannon([0.6, 0.4], [0.58, 0.42]))
    assert not large.drifted


def test_numbers_with_few_distinct_values_are_categories():
    assert choose_method(numeric=True, reference_rows=100, distinct_values=3) is DriftMethod.CHI_SQUARE
    assert choose_method(numeric=True, reference_rows=100_000, distinct_values=5) is DriftMethod.JENSEN_SHANNON
    assert choose_method(numeric=True, reference_rows=1000, distinct_values=6) is DriftMethod.KS
    assert choose_method(numeric=True, reference_rows=1001, distinct_values=6) is DriftMethod.WASSERSTEIN


def test_psi_over_reference_deciles():
    ref = np.arange(1000, dtype=float)
    same = drift_test(pd.Series(ref), pd.Series(ref), numeric=True, method=DriftMethod.PSI)
    assert same.statistic == pytest.approx(0.0) and not same.drifted
    moved = drift_test(pd.Series(ref), pd.Series(ref[:500]), numeric=True, method=DriftMethod.PSI)
    # Half the deciles keep a fifth each, the other half are empty (floored at 1e-4).
    expected = population_stability_index(np.full(10, 0.1), np.array([0.2] * 5 + [0.0] * 5))
    assert moved.statistic == pytest.approx(expected) and moved.drifted


def test_an_empty_side_is_not_tested_and_not_counted_in_the_share():
    empty = drift_test(pd.Series([1.0, 2.0]), pd.Series([None, None], dtype="float64"), numeric=True)
    assert empty.statistic is None and not empty.drifted
    drifted = drift_test(pd.Series(np.arange(100.0)), pd.Series(np.arange(100.0) + 500), numeric=True)
    assert drift_share([empty, drifted]) == 1.0


def test_thresholds_are_bounded_where_the_score_is():
    assert valid_threshold(DriftMethod.KS, 0.05) and not valid_threshold(DriftMethod.KS, 1.5)
    assert valid_threshold(DriftMethod.PSI, 2.0) and not valid_threshold(DriftMethod.JENSEN_SHANNON, 0)
    assert not valid_threshold(DriftMethod.WASSERSTEIN, float("nan"))
    with pytest.raises(ValueError, match="needs numbers"):
        drift_test(pd.Series(["a"]), pd.Series(["b"]), numeric=False, method=DriftMethod.KS)
