"""FLAML AutoML on a prepared split and the same CV folds as AUTO (executed with bench/.venv-flaml); prints JSON."""

import json
import sys
import time

import numpy as np
from flaml import AutoML
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold

data = np.load(sys.argv[1], allow_pickle=False)
task, budget = sys.argv[2], float(sys.argv[3])
automl = AutoML()
began = time.perf_counter()
automl.fit(
    data["x_train"],
    data["y_train"],
    task="classification" if task == "CLASSIFICATION" else "regression",
    time_budget=budget,
    eval_method="cv",
    n_splits=5,
    seed=0,
    verbose=0,
    # The very folds AUTO and the baselines use (5, shuffled, seed 0), as the issue asks.
    split_type=(StratifiedKFold if task == "CLASSIFICATION" else KFold)(n_splits=5, shuffle=True, random_state=0),
    metric="accuracy" if task == "CLASSIFICATION" else "r2",
)
seconds = time.perf_counter() - began
predicted = automl.predict(data["x_test"])
held_out = (
    accuracy_score(data["y_test"], predicted) if task == "CLASSIFICATION" else r2_score(data["y_test"], predicted)
)
print(json.dumps({"cv": 1 - automl.best_loss, "held_out": held_out, "seconds": seconds, "best": automl.best_estimator}))
