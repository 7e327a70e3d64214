"""Pure pieces of the analysis: the stage deadline, the options, the fix planner and the critique."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pandas as pd
import pytest

from services.analysis.auto_actions import plan_actions
from services.analysis.critique import critique
from services.analysis.deadline import StageTimedOut, stage_deadline
from services.analysis.options import check_extension, resolve_options
from services.errors import ErrorCode, ServiceError


def test_the_deadline_interrupts_a_stage_that_never_returns_by_itself():
    began = time.monotonic()
    with pytest.raises(StageTimedOut) as stopped, stage_deadline("modeling", 0.2):  # noqa: PT012 - the loop is the stage
        while True:  # a stage that would run forever; an `except Exception` inside cannot swallow the stop
            with contextlib.suppress(Exception):
                sum(range(10_000))
    assert stopped.value.stage == "modeling" and time.monotonic() - began < 2


def _library_call_that_wraps_every_error() -> None:
    """Like numpy's buffer-format parser: whatever is raised inside comes out as a ValueError."""
    try:
        while True:
            sum(range(10_000))
    except BaseException as exc:
        raise ValueError("not a valid PEP 3118 buffer format string") from exc


def test_the_deadline_fires_again_when_a_library_turns_the_stop_into_its_own_error():
    began = time.monotonic()
    with pytest.raises(StageTimedOut), stage_deadline("modeling", 0.2):  # noqa: PT012 - the loop is the stage
        with contextlib.suppress(ValueError):  # scikit-learn scores the failed fold NaN and goes on
            _library_call_that_wraps_every_error()
        while time.monotonic() - began < 5:  # bounded, so a broken deadline fails the test instead of hanging it
            sum(range(10_000))
    assert time.monotonic() - began < 2


def test_an_error_raised_after_the_limit_is_reported_as_the_limit():
    with pytest.raises(StageTimedOut) as stopped, stage_deadline("modeling", 0.2):
        _library_call_that_wraps_every_error()
    assert isinstance(stopped.value.__cause__, ValueError)


def test_a_stage_that_swallows_the_stop_and_returns_still_ran_over():
    with pytest.raises(StageTimedOut), stage_deadline("profile", 0.1):  # noqa: PT012 - the loop is the stage
        finish = time.monotonic() + 0.5
        while time.monotonic() < finish:
            with contextlib.suppress(BaseException):
                time.sleep(0.01)


def test_a_stage_within_its_limit_is_left_alone():
    with stage_deadline("profile", 5):
        time.sleep(0.01)
    time.sleep(0.05)  # the timer is disarmed: nothing fires afterwards


def test_options_overlay_settings_and_name_a_bad_field():
    chosen = resolve_options(
        {"cv_folds": 4, "allowed_exts": "csv, .Parquet"}, {"cv_folds": None, "hgb_min_rows": 10}, []
    )
    assert chosen.cv_folds == 4 and chosen.hgb_min_rows == 10 and chosen.allowed_exts == ["csv", "parquet"]
    with pytest.raises(ServiceError) as refused:
        resolve_options({}, {"early_stop_sample": 5}, ["options"])
    assert refused.value.code == ErrorCode.INVALID_INPUT and refused.value.field == ["options", "earlyStopSample"]


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("a.csv", True), ("a.CSV", True), ("a.csv.gz", True), ("a.xlsx", False), ("noextension", False)],
)
def test_allowed_extensions(name, allowed):
    options = resolve_options({"allowed_exts": "csv"}, None, [])
    if allowed:
        check_extension(name, options, ["datasetId"])
    else:
        with pytest.raises(ServiceError) as refused:
            check_extension(name, options, ["datasetId"])
        assert refused.value.code == ErrorCode.UNSUPPORTED_FILE


def _stats(name, *, distinct, nulls=0, count=100, dtype="int64"):
    return {
        "name": name,
        "distinct_count": distinct,
        "null_count": nulls,
        "null_ratio": nulls / count,
        "count": count - nulls,
        "dtype": dtype,
    }


def test_the_planner_never_touches_the_target_and_imputes_only_few_nulls():
    profile = {
        "duplicate_rows": 0,
        "columns": [
            _stats("label", distinct=1, nulls=3, dtype="object"),
            _stats("few", distinct=40, nulls=4, dtype="float64"),
            _stats("many", distinct=40, nulls=30, dtype="float64"),
            _stats("order_id", distinct=99, dtype="object"),
            _stats("flag", distinct=1),
        ],
    }
    columns = [
        {"name": n, "semantic_type": t}
        for n, t in (
            ("label", "CATEGORICAL"),
            ("few", "NUMERIC"),
            ("many", "NUMERIC"),
            ("order_id", "CATEGORICAL"),
            ("flag", "NUMERIC"),
        )
    ]
    planned = [(a.kind, a.columns) for a in plan_actions(profile, columns, "label")]
    assert planned == [("DROP_ID_COLUMN", ["order_id"]), ("DROP_CONSTANT_COLUMN", ["flag"]), ("IMPUTE_COLUMN", ["few"])]


def test_a_balanced_large_clean_table_has_no_finding():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 3000), "g": rng.choice(["a", "b", "c"], 3000)})
    frame["y"] = np.where(frame.x + rng.normal(0, 1, 3000) > 0, "p", "n")
    assert critique(frame, target="y", features=["x", "g"], task="CLASSIFICATION", test_size=0.2, seed=0) == []
