"""Unit tests of the model search's pure decisions (services.modeling): task detection, the signature predict
checks rows against, budgets for importance and fits, and the stored details — no server, no training job."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from services.modeling.details import ModelDetails, TrainResult
from services.modeling.evaluate import IMPORTANCE_MIN_ROWS, IMPORTANCE_ROWS, importance_rows
from services.modeling.prepare import signature
from services.modeling.search import Candidate, expected_fit_seconds
from services.modeling.tasks import detect_task


@pytest.mark.parametrize(
    ("values", "semantic", "task"),
    [
        ([1.5, 2.25, 3.0, 4.75], "NUMERIC", "REGRESSION"),
        ([0, 1, 2, 1, 0, 2], "NUMERIC", "CLASSIFICATION"),  # integers with few levels are classes
        ([1.0, 2.0, 1.0, 3.0], "NUMERIC", "CLASSIFICATION"),  # ... also when stored as floats
        (list(range(100)), "NUMERIC", "REGRESSION"),  # too many levels for classes
        (["yes", "no", "yes"], "CATEGORICAL", "CLASSIFICATION"),
    ],
)
def test_the_task_follows_from_the_target(values, semantic, task):
    assert detect_task(pd.Series(values), semantic) == task


def test_the_signature_records_what_predict_will_check():
    frame = pd.DataFrame({"size": [1.0, 4.0, None], "city": ["Oslo", "Rome", "Oslo"]})
    features = [{"name": "size", "semantic_type": "NUMERIC"}, {"name": "city", "semantic_type": "CATEGORICAL"}]
    size, city = signature(frame, features)
    assert size == {
        "name": "size",
        "semantic_type": "NUMERIC",
        "required": False,
        "allowed_values": None,
        "min": 1.0,
        "max": 4.0,
    }
    assert city["required"] is True and city["allowed_values"] == ["Oslo", "Rome"]


def test_importance_rows_shrink_for_slow_models_within_bounds():
    assert importance_rows(1e-7, 10, 100_000) == IMPORTANCE_ROWS
    assert importance_rows(1.0, 30, 100_000) == IMPORTANCE_MIN_ROWS
    assert importance_rows(1e-7, 10, 300) == 300  # never more rows than are held out


def candidate(algorithm: str, fit_seconds: float) -> Candidate:
    return Candidate(
        algorithm=algorithm,
        params=None,
        metric="accuracy",
        score=0.9,
        std=0.01,
        fit_seconds=fit_seconds,
        rows=1000,
        scores=(0.9,),
    )


def test_a_fit_not_yet_run_is_expected_from_the_others_scaled_by_their_cost():
    board = [candidate("HIST_GRADIENT_BOOSTING", 2.0), candidate("RIDGE", 0.1)]
    assert expected_fit_seconds("HIST_GRADIENT_BOOSTING", board) == 2.0
    assert expected_fit_seconds("RANDOM_FOREST", board) == pytest.approx(24.0)  # 12x the boosted model's 2 s


def test_a_train_result_splits_into_the_row_columns_and_the_stored_details():
    result = TrainResult(
        task="CLASSIFICATION",
        algorithm="RIDGE",
        training_seconds=1.5,
        metrics={"accuracy": 0.5},
        leaderboard=[candidate("RIDGE", 0.1).entry(selected=True)],
    )
    stored = result.stored()
    assert "task" not in stored and "training_seconds" not in stored
    assert stored["metrics"] == {"accuracy": 0.5}  # only the task's metrics, as before the model
    assert ModelDetails.model_validate(stored).leaderboard[0].selected is True
    with pytest.raises(ValidationError):
        ModelDetails.model_validate({"leaderboard": [{"algorithm": "RIDGE"}]})
