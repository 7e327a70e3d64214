"""Training: pick features, compare candidates within a budget, refit, evaluate, explain, save (the TRAIN job body
and the analysis job both call `train_model`)."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split

from services import files
from services.errors import invalid
from services.jobs.context import JobContext
from services.modeling.details import TrainResult
from services.modeling.estimators import (RELATIVE_FIT_COST, SEARCH_TRIALS, SEARCHABLE, VARIANTS, build_pipeline,
                                        sample_params)
from services.modeling.explain import save_background
from services.modeling.sampling import forest_rows_within, read_training_frame
from services.modeling.spec import TrainingSpec
from services.modeling.tasks import CLASSIFIERS, REGRESSORS, detect_task

COMPARE_ROWS = 20_000        # candidates are compared on at most this many training rows
SECOND_ROUND_GROWTH = 4      # the two best are compared again on a sample this many times larger
IMPORTANCE_ROWS = 5_000      # permutation importance on at most this many held-out rows,
IMPORTANCE_MIN_ROWS = 1_000  # and at least this many (or all of them),
IMPORTANCE_SECONDS = 3.0     # as many as a model predicts in about this long for every feature's shuffles
IMPORTANCE_REPEATS = 3
# Wide tables (genomics, one-hot exports): shuffling each of 10,000 features is 10,000 x 3 predictions of a
# 10,000-column pipeline. Beyond this many features, only those most associated with the target (a rank
# correlation, one vectorised pass) are shuffled; the others are left out of the importances, saying so.
IMPORTANCE_MAX_FEATURES = 100
FORESTS = ("RANDOM_FOREST", "EXTRA_TREES")


def select_features(frame: pd.DataFrame, columns: list[dict[str, Any]], target: str, requested: list[str] | None,
                    log) -> list[dict[str, Any]]:
    by_name = {c["name"]: c for c in columns}
    if requested:
        return [by_name[name] for name in requested]
    chosen = []
    for column in columns:
        name = column["name"]
        if name == target:
            continue
        if column["semantic_type"] in ("IDENTIFIER", "EMPTY"):
            log(f"Feature {name} left out: it is {column['semantic_type']}")
        elif frame[name].nunique(dropna=True) <= 1:
            log(f"Feature {name} left out: it is constant")
        elif column["semantic_type"] == "TEXT" and frame[name].nunique() > 0.5 * len(frame):
            log(f"Feature {name} left out: free text with mostly distinct values")
        else:
            chosen.append(column)
    return chosen


def signature(frame: pd.DataFrame, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for feature in features:
        series = frame[feature["name"]]
        entry = {"name": feature["name"], "semantic_type": feature["semantic_type"], "required": bool(series.notna().all()),
                 "allowed_values": None, "min": None, "max": None}
        if feature["semantic_type"] in ("CATEGORICAL", "TEXT"):
            entry["allowed_values"] = sorted(series.dropna().astype(str).unique().tolist())[:1000]
        elif feature["semantic_type"] == "NUMERIC":
            entry["min"], entry["max"] = float(series.min()), float(series.max())
        result.append(entry)
    return result


def importance_rows(seconds_per_row: float, features: int, available: int) -> int:
    """Held-out rows for permutation importance: up to IMPORTANCE_ROWS, fewer for a slow model.

    Importance predicts the sample once per feature and shuffle; with 30 features a deep boosted model
    took 9 s on 5,000 rows, beyond the training budget plus the refit that AUTO promises.
    """
    affordable = IMPORTANCE_SECONDS / max(seconds_per_row * features * IMPORTANCE_REPEATS, 1e-9)
    return min(available, IMPORTANCE_ROWS, max(IMPORTANCE_MIN_ROWS, int(affordable)))


def _predictions(task: str, model, x_test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (or values) and class probabilities in one pass over the held-out rows (a deep model's
    predict and predict_proba each take seconds on 40,000 rows, and predict is the argmax anyway)."""
    if task == "REGRESSION" or not hasattr(model, "predict_proba"):
        return model.predict(x_test), None
    probabilities = model.predict_proba(x_test)
    return model.classes_.take(probabilities.argmax(axis=1)), probabilities


def _metrics(task: str, model, y_test: pd.Series, predicted: np.ndarray, probabilities: np.ndarray | None,
             classes: list | None) -> dict[str, Any]:
    if task == "REGRESSION":
        nonzero = y_test != 0
        return {"r2": skm.r2_score(y_test, predicted), "mae": skm.mean_absolute_error(y_test, predicted),
                "rmse": float(np.sqrt(skm.mean_squared_error(y_test, predicted))),
                "mape": float(np.mean(np.abs((y_test[nonzero] - predicted[nonzero]) / y_test[nonzero]))) if nonzero.any() else None}
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive = {"pos_label": classes[1]} if binary else {}
    result = {"accuracy": skm.accuracy_score(y_test, predicted),
              "balanced_accuracy": skm.balanced_accuracy_score(y_test, predicted),
              "precision": skm.precision_score(y_test, predicted, average=average, zero_division=0, **positive),
              "recall": skm.recall_score(y_test, predicted, average=average, zero_division=0, **positive),
              "f1": skm.f1_score(y_test, predicted, average=average, zero_division=0, **positive),
              "roc_auc": None, "log_loss": None}
    if probabilities is not None:
        with contextlib.suppress(ValueError):  # a class absent from the held-out split
            result["roc_auc"] = (skm.roc_auc_score(y_test, probabilities[:, 1]) if binary else
                                 skm.roc_auc_score(y_test, probabilities, multi_class="ovr", labels=model.classes_))
        result["log_loss"] = skm.log_loss(y_test, probabilities, labels=model.classes_)
    return {k: (float(v) if v is not None else None) for k, v in result.items()}


def _describe(variant: dict[str, Any] | None) -> str:
    return f" {variant}" if variant else ""


@dataclass(frozen=True)
class Candidate:
    """One configuration's cross-validated score on one sample of the training split."""

    algorithm: str
    params: dict[str, Any] | None   # a variant's or a random trial's estimator parameters; None for the defaults
    metric: str
    score: float                    # the mean over the folds
    std: float
    fit_seconds: float              # per fold
    rows: int                       # the sample it was compared on
    scores: tuple[float, ...]       # each fold's

    def entry(self, *, selected: bool) -> dict[str, Any]:
        """The leaderboard entry the model keeps and the API shows: all but the fold scores."""
        return {"algorithm": self.algorithm, "params": self.params, "metric": self.metric, "score": self.score,
                "std": self.std, "fit_seconds": self.fit_seconds, "rows": self.rows, "selected": selected}


def expected_fit_seconds(algorithm: str, leaderboard: list[Candidate]) -> float:
    """Its own slowest fit so far, or, not yet run, the others' fits scaled by RELATIVE_FIT_COST."""
    known = [c.fit_seconds for c in leaderboard if c.algorithm == algorithm]
    if known:
        return max(known)
    return max(c.fit_seconds * RELATIVE_FIT_COST[algorithm] / RELATIVE_FIT_COST[c.algorithm] for c in leaderboard)


class TuningPlan:
    """What the time left after the first round tries, with a budget: fixed variants of the two best
    algorithms, then up to SEARCH_TRIALS seeded random configurations of the two best so far.

    The random search runs only when candidates are compared on all training rows: on a sample its
    gains are within the sample's noise, while a tuned configuration (more trees, more iterations)
    can cost far more to refit on all rows.
    """

    def __init__(self, seed: int, *, search: bool) -> None:
        self.fixed_done = False
        self.trials = 0
        self.trial_limit = SEARCH_TRIALS if search else 0
        self.rng = np.random.default_rng(seed)
        self.too_slow: set[str] = set()

    def more(self, leaderboard: list[Candidate]) -> list[tuple[str, dict[str, Any] | None]]:
        leaders = list(dict.fromkeys(c.algorithm for c in sorted(leaderboard, key=lambda c: -c.score)))[:2]
        if not self.fixed_done:
            self.fixed_done = True
            # Interleaved (each leader's first variant, then each one's second...), so a slow leader's
            # variants cannot use up the budget before the other leader's most promising one runs.
            fixed = [(algorithm, VARIANTS[algorithm][depth]) for depth in range(max(map(len, VARIANTS.values())))
                     for algorithm in leaders if depth < len(VARIANTS.get(algorithm, []))]
            if fixed:
                return fixed
        searchable = [algorithm for algorithm in leaders if algorithm in SEARCHABLE and algorithm not in self.too_slow]
        if self.trials >= self.trial_limit or not searchable:
            return []
        algorithm = searchable[self.trials % len(searchable)]
        self.trials += 1
        return [(algorithm, sample_params(algorithm, self.rng))]


def choose_winner(leaderboard: list[Candidate], *, training_rows: int, budget: float | None, log,
                  max_refit_seconds: float | None = None) -> Candidate:
    """The best CV score among the candidates compared on the most rows (scores on different samples do
    not compare) whose refit on the whole training split fits the budget.

    A candidate's refit grows with the rows (about linearly), so with a budget one projected to need more
    than `max_refit_seconds` (default max(2 x budget, 60 s)) to refit is passed over, and the log says so.
    """
    most_rows = max(c.rows for c in leaderboard)
    final_round = [c for c in leaderboard if c.rows == most_rows]
    best = max(final_round, key=lambda c: c.score)
    if budget is None or most_rows >= training_rows:
        return best
    limit = max_refit_seconds or max(2 * budget, 60.0)

    def refit_seconds(candidate: Candidate) -> float:
        return candidate.fit_seconds * training_rows / candidate.rows

    affordable = ([c for c in final_round if refit_seconds(c) <= limit]
                  or [c for c in leaderboard if refit_seconds(c) <= limit]
                  or [min(leaderboard, key=refit_seconds)])
    most_rows = max(c.rows for c in affordable)
    chosen = max((c for c in affordable if c.rows == most_rows), key=lambda c: c.score)
    if chosen is not best:
        log(f"Chose {chosen.algorithm} over {best.algorithm} ({best.score:.4f} vs {chosen.score:.4f}): "
            f"refitting {best.algorithm} on all training rows would take about "
            f"{refit_seconds(best):.0f} s, beyond the {limit:g} s budget", "WARNING")
    return chosen


def second_round(leaderboard: list[Candidate], *, sample_rows: int, training_rows: int, seconds_left: float,
                 folds: int) -> tuple[int, list[Candidate]] | None:
    """Successive halving on large data: the two best configurations again on a sample SECOND_ROUND_GROWTH
    times larger, when both fit in the time left. Forests and boosting gain differently from rows, so the
    small sample alone does not decide between close leaders. None when it does not fit or there is no
    larger sample to take."""
    rows = min(training_rows, sample_rows * SECOND_ROUND_GROWTH)
    ranked = sorted(leaderboard, key=lambda c: -c.score)
    leaders = [c for index, c in enumerate(ranked)
               if all((c.algorithm, c.params) != (o.algorithm, o.params) for o in ranked[:index])][:2]
    if rows <= sample_rows or len(leaders) < 2:
        return None
    expected = sum(c.fit_seconds * rows / c.rows for c in leaders) * folds
    return (rows, leaders) if expected <= seconds_left else None


@dataclass(frozen=True)
class PreparedData:
    """The prepare stage's output: the task, the chosen features and the train / held-out split, and whether
    the rows are a sample of the labelled ones (the whole table would not fit the job's memory budget)."""

    task: str
    features: list[dict[str, Any]]
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    labelled_rows: int = 0
    sampled: bool = False
    bytes_per_row: float = 0.0

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "CLASSIFICATION" else "r2"

    def training_sample(self, rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
        """`rows` of the training split (stratified for classification), drawn the same way for a given seed."""
        sample_x, _, sample_y, _ = train_test_split(
            self.x_train, self.y_train, train_size=rows, random_state=seed,
            stratify=self.y_train if self.task == "CLASSIFICATION" else None)
        return sample_x, sample_y


def _wanted_columns(columns: list[dict[str, Any]], target: str, requested: list[str] | None) -> list[str]:
    """The target and every column select_features may keep: identifiers and empty columns never are."""
    if requested:
        return list(dict.fromkeys([*requested, target]))
    return [c["name"] for c in columns if c["name"] == target or c["semantic_type"] not in ("IDENTIFIER", "EMPTY")]


def _stratified(spec: TrainingSpec, columns: list[dict[str, Any]]) -> bool | None:
    """Whether a sample keeps the target's classes in proportion: for classification, or (task not yet settled,
    as in an analysis) for a target that can only be a class."""
    if spec.task is not None:
        return spec.task == "CLASSIFICATION"
    semantic = next(c["semantic_type"] for c in columns if c["name"] == spec.target)
    return True if semantic in ("BOOLEAN", "CATEGORICAL", "TEXT") else None


def prepare_data(ctx: JobContext, spec: TrainingSpec, data_dir: Path, columns: list[dict[str, Any]]) -> PreparedData:
    """Read the dataset (a stratified sample when it would not fit the budget), drop rows without a target,
    settle the task and features, split off the held-out rows."""
    ctx.stage("prepare")
    target = spec.target
    read = read_training_frame(
        files.parquet_path(data_dir, spec.dataset_id), target=target, columns=columns,
        names=_wanted_columns(columns, target, list(spec.features) if spec.features else None),
        classify=_stratified(spec, columns), memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir, seed=spec.seed, log=ctx.log, max_rows=spec.max_rows)
    frame = read.frame
    missing = int(frame[target].isna().sum())
    if missing:
        frame = frame[frame[target].notna()].reset_index(drop=True)
        ctx.log(f"Dropped {missing:,} row(s) with no {target}")
    target_semantic = next(c["semantic_type"] for c in columns if c["name"] == target)
    task = spec.task or detect_task(frame[target], target_semantic)
    ctx.log(f"Task: {task}{' (detected)' if not spec.task else ''}")
    features = select_features(frame, columns, target, list(spec.features) if spec.features else None, ctx.log)
    ctx.log(f"Features ({len(features)}): {', '.join(f['name'] for f in features)}")
    y = frame[target]
    if task == "CLASSIFICATION":
        y = y.astype(str)
    x = frame[[f["name"] for f in features]]
    stratify = y if task == "CLASSIFICATION" else None
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=spec.test_size, random_state=spec.seed,
                                                        stratify=stratify)
    ctx.log(f"Split: {len(x_train):,} training rows, {len(x_test):,} held out"
            + (f" (a sample of {read.labelled_rows:,} labelled rows)" if read.sampled else ""))
    ctx.checkpoint()
    return PreparedData(task, features, x_train, x_test, y_train, y_test, labelled_rows=read.labelled_rows,
                        sampled=read.sampled, bytes_per_row=read.bytes_per_row)


class CandidateSearch:
    """The compare stage: every requested algorithm by cross-validation on (a sample of) the training split,
    then, with a time budget, the tuning plan's configurations while they fit, and on large data a second
    round of the two best on a larger sample. `run` returns the winner and the whole leaderboard."""

    def __init__(self, ctx: JobContext, spec: TrainingSpec, data: PreparedData) -> None:
        self.ctx, self.spec, self.data = ctx, spec, data
        self.budget = spec.time_budget_seconds
        self.leaderboard: list[Candidate] = []
        self.folds = (StratifiedKFold if data.task == "CLASSIFICATION" else KFold)(
            n_splits=spec.cv_folds, shuffle=True, random_state=spec.seed)

    def run(self) -> tuple[Candidate, list[Candidate]]:
        self.ctx.stage("compare")
        compare_x, compare_y = self.data.x_train, self.data.y_train
        compare_rows = self.spec.compare_rows or COMPARE_ROWS
        if len(compare_x) > compare_rows:
            compare_x, compare_y = self.data.training_sample(compare_rows, self.spec.seed)
            self.ctx.log(f"Comparing candidates on a {compare_rows:,}-row sample of the training split")
        started = time.perf_counter()
        self.first_round(compare_x, compare_y, started)
        if self.budget is not None and self.leaderboard and len(compare_x) < len(self.data.x_train):
            self.larger_sample_round(len(compare_x), started)
        if not self.leaderboard:
            raise invalid("No candidate could be trained within the budget")
        best = choose_winner(self.leaderboard, training_rows=len(self.data.x_train), budget=self.budget,
                             log=self.ctx.log, max_refit_seconds=self.spec.max_refit_seconds)
        return best, self.leaderboard

    def algorithms(self) -> list[str]:
        requested = list(self.spec.algorithms)
        if "AUTO" in requested:
            candidates = CLASSIFIERS if self.data.task == "CLASSIFICATION" else REGRESSORS
            rows = len(self.data.x_train)
            if self.spec.hgb_min_rows and rows < self.spec.hgb_min_rows and "HIST_GRADIENT_BOOSTING" in candidates:
                self.ctx.log(f"HIST_GRADIENT_BOOSTING left out: {rows:,} training rows, fewer than the "
                             f"{self.spec.hgb_min_rows:,} it needs (hgbMinRows)")
                candidates = [name for name in candidates if name != "HIST_GRADIENT_BOOSTING"]
            return candidates
        return requested

    def first_round(self, compare_x: pd.DataFrame, compare_y: pd.Series, started: float) -> None:
        """Each algorithm with its defaults, then (with a budget) the tuning plan's runs, skipping any that
        would overrun the budget."""
        runs: list[tuple[str, dict[str, Any] | None]] = [(algorithm, None) for algorithm in self.algorithms()]
        tuning = TuningPlan(self.spec.seed, search=len(compare_x) == len(self.data.x_train))
        index = 0
        while True:
            if index == len(runs) and self.budget is not None and self.leaderboard:
                runs += tuning.more(self.leaderboard)
            if index == len(runs):
                break
            algorithm, variant = runs[index]
            index += 1
            self.ctx.checkpoint()
            elapsed = time.perf_counter() - started
            if self.budget is not None and self.leaderboard:
                expected = expected_fit_seconds(algorithm, self.leaderboard) * self.spec.cv_folds
                if elapsed + expected > self.budget:
                    self.ctx.log(f"Skipped {algorithm}{_describe(variant)}: about {expected:.1f} s more would "
                                 f"overrun the {self.budget:g} s budget", "WARNING")
                    tuning.too_slow.add(algorithm)  # no more random trials of it; the other may still fit
                    continue
            self.evaluate(algorithm, variant, compare_x, compare_y)
            self.ctx.progress(0.1 + 0.6 * min(1.0, index / max(len(runs), 1)))

    def larger_sample_round(self, sample_rows: int, started: float) -> None:
        training_rows = len(self.data.x_train)
        promoted = second_round(self.leaderboard, sample_rows=sample_rows, training_rows=training_rows,
                                seconds_left=self.budget - (time.perf_counter() - started), folds=self.spec.cv_folds)
        if promoted:
            rows, leaders = promoted
            self.ctx.log(f"Comparing the two best again on {'all ' if rows == training_rows else 'a sample of '}"
                         f"{rows:,} training rows")
            bigger_x, bigger_y = self.data.x_train, self.data.y_train
            if rows < training_rows:
                bigger_x, bigger_y = self.data.training_sample(rows, self.spec.seed)
            for leader in leaders:
                self.ctx.checkpoint()
                self.evaluate(leader.algorithm, leader.params, bigger_x, bigger_y)
        else:
            self.ctx.log("No second round on a larger sample: it would not fit in the time left")
        self.ctx.progress(0.7)

    def evaluate(self, algorithm: str, variant: dict[str, Any] | None, sample_x: pd.DataFrame,
                 sample_y: pd.Series) -> None:
        """Cross-validate one configuration on a sample and add it to the leaderboard (or log why it failed)."""
        metric, began = self.data.metric, time.perf_counter()
        pipeline = build_pipeline(algorithm, self.data.task, self.data.features, self.spec.seed, len(sample_x), variant)
        try:
            scores = cross_val_score(pipeline, sample_x, sample_y, cv=self.folds, scoring=metric, n_jobs=1)
        except ValueError as exc:
            self.ctx.log(f"{algorithm} failed: {exc}", "WARNING")
            return
        seconds = (time.perf_counter() - began) / self.spec.cv_folds
        self.leaderboard.append(Candidate(algorithm=algorithm, params=variant, metric=metric,
                                          score=float(np.mean(scores)), std=float(np.std(scores)),
                                          fit_seconds=seconds, rows=len(sample_x),
                                          scores=tuple(float(s) for s in scores)))
        self.ctx.log(f"{algorithm}{_describe(variant)}: {metric} {np.mean(scores):.4f} ± {np.std(scores):.4f} "
                     f"({seconds:.2f} s per fit on {len(sample_x):,} rows)")


def refit(ctx: JobContext, spec: TrainingSpec, data: PreparedData, best: Candidate) -> tuple[Any, int]:
    """The winner fitted on the whole training split (a forest, whose trees grow with the rows, on as many as
    its nodes leave room for in the budget); returns the model and the rows it was fitted on."""
    ctx.stage("refit")
    x_train, y_train = data.x_train, data.y_train
    if best.algorithm in FORESTS:
        affordable = forest_rows_within(ctx.memory_mb, data.bytes_per_row)
        if len(x_train) > affordable:
            x_train, y_train = data.training_sample(affordable, spec.seed)
            ctx.log(f"{best.algorithm} grows with its rows: refit on a sample of {affordable:,} of the "
                    f"{len(data.x_train):,} training rows to stay within the {ctx.memory_mb:,} MB budget", "WARNING")
    model = build_pipeline(best.algorithm, data.task, data.features, spec.seed, len(x_train),
                           best.params).fit(x_train, y_train)
    ctx.log(f"Refit {best.algorithm}{_describe(best.params)} on {len(x_train):,} rows")
    ctx.checkpoint()
    return model, len(x_train)


def evaluate_model(ctx: JobContext, spec: TrainingSpec, data: PreparedData, model: Any,
                   classes: list[str] | None) -> dict[str, Any]:
    """Held-out metrics, the confusion matrix (classification) and permutation importances."""
    ctx.stage("evaluate")
    began = time.perf_counter()
    predicted, probabilities = _predictions(data.task, model, data.x_test)
    seconds_per_row = (time.perf_counter() - began) / max(len(data.x_test), 1)
    metrics = _metrics(data.task, model, data.y_test, predicted, probabilities, classes)
    ctx.log("Held-out " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None))
    confusion = None
    if data.task == "CLASSIFICATION":
        confusion = {"labels": classes, "values": skm.confusion_matrix(data.y_test, predicted, labels=classes).tolist()}
    importances = explain(ctx, spec, data, model, seconds_per_row)
    ctx.progress(0.95)
    return {"metrics": metrics, "confusion_matrix": confusion, "feature_importances": importances}


def explain(ctx: JobContext, spec: TrainingSpec, data: PreparedData, model: Any,
            seconds_per_row: float) -> list[dict[str, Any]]:
    """Permutation importance on a held-out sample sized to the model's speed, most important first."""
    rows = importance_rows(seconds_per_row, len(data.features), len(data.x_test))
    sample_x, sample_y = data.x_test, data.y_test
    if len(data.x_test) > rows:
        sample_x = data.x_test.sample(rows, random_state=spec.seed)
        sample_y = data.y_test.sample(rows, random_state=spec.seed)
    shuffled = list(sample_x.columns)
    if len(shuffled) > IMPORTANCE_MAX_FEATURES:
        shuffled = most_associated(data.x_train, data.y_train, IMPORTANCE_MAX_FEATURES)
        ctx.log(f"{len(sample_x.columns):,} features: permutation importance for the {len(shuffled)} most associated "
                "with the target (rank correlation on the training rows); the others are not ranked")
    importance = permutation_importance(_OnlySome(model, sample_x, shuffled), sample_x[shuffled], sample_y,
                                        n_repeats=IMPORTANCE_REPEATS, random_state=spec.seed, scoring=data.metric) \
        if len(shuffled) < len(sample_x.columns) else \
        permutation_importance(model, sample_x, sample_y, n_repeats=IMPORTANCE_REPEATS, random_state=spec.seed,
                               scoring=data.metric)
    ctx.log(f"Permutation importance on {len(sample_x):,} held-out rows, {IMPORTANCE_REPEATS} shuffles per feature")
    return sorted(({"feature": name, "importance": float(value)} for name, value in
                   zip(shuffled, importance.importances_mean, strict=True)), key=lambda f: -f["importance"])


def most_associated(x: pd.DataFrame, y: pd.Series, count: int) -> list[str]:
    """The `count` features with the largest absolute Spearman correlation with the target (text as category
    codes, the target too); ties and empty columns keep table order."""
    codes = pd.DataFrame({name: (x[name] if pd.api.types.is_numeric_dtype(x[name]) and not pd.api.types.is_bool_dtype(x[name])
                                 else x[name].astype("category").cat.codes.where(x[name].notna()))
                          for name in x.columns}).astype(float)
    target = y.astype(float) if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y) \
        else y.astype("category").cat.codes.astype(float)
    association = codes.rank().corrwith(target.rank().set_axis(codes.index)).abs().fillna(0.0)
    order = sorted(range(len(x.columns)), key=lambda i: (-association.iloc[i], i))
    return [x.columns[i] for i in order[:count]]


class _OnlySome(BaseEstimator):
    """The model seen through a subset of its features: the rest held at their held-out values, so permutation
    importance shuffles (and predicts for) only the chosen ones."""

    def __init__(self, model: Any, full: pd.DataFrame, chosen: list[str]) -> None:
        self.model, self.full, self.chosen = model, full, chosen

    def __sklearn_tags__(self) -> Any:  # a classifier or a regressor, as the model is, for the scorer
        return self.model.__sklearn_tags__()

    def fit(self, *args: Any, **kwargs: Any) -> "_OnlySome":
        return self

    def _frame(self, x: pd.DataFrame) -> pd.DataFrame:
        frame = self.full.copy()
        for name in self.chosen:  # row for row: permutation importance keeps the rows' order
            frame[name] = x[name].to_numpy()
        return frame

    def predict(self, x: Any) -> np.ndarray:
        return self.model.predict(self._frame(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        return self.model.predict_proba(self._frame(x))

    @property
    def classes_(self) -> Any:
        return self.model.classes_


def save_model(ctx: JobContext, model: Any, data_dir: Path, model_id: str) -> None:
    ctx.stage("save")
    with files.atomic_output(files.model_path(data_dir, model_id)) as temporary:
        joblib.dump(model, temporary)


def train_model(ctx: JobContext, p: dict[str, Any]) -> dict:
    """Train from `p` (the TRAIN job's params; the analysis job passes its own), reporting through `ctx`."""
    started = time.perf_counter()
    spec, data_dir = TrainingSpec.from_params(p), Path(p["data_dir"])
    data = prepare_data(ctx, spec, data_dir, p["columns"])
    best, leaderboard = CandidateSearch(ctx, spec, data).run()
    ctx.note(tools=[c.algorithm for c in leaderboard], features=[f["name"] for f in data.features])
    model, training_rows = refit(ctx, spec, data, best)
    classes = [str(c) for c in model.classes_] if data.task == "CLASSIFICATION" else None
    evaluation = evaluate_model(ctx, spec, data, model, classes)
    save_model(ctx, model, data_dir, p["model_id"])
    save_background(data_dir, p["model_id"], data.x_train, spec.seed)  # the reference explanations measure from
    return TrainResult(
        task=data.task, algorithm=best.algorithm, metrics=evaluation["metrics"], cv_metric=data.metric,
        cv_scores=list(best.scores), confusion_matrix=evaluation["confusion_matrix"],
        feature_importances=evaluation["feature_importances"], features=signature(data.x_train, data.features),
        classes=classes, leaderboard=[c.entry(selected=c is best) for c in leaderboard],
        training_seconds=time.perf_counter() - started, training_rows=training_rows,
        labelled_rows=data.labelled_rows,
        sampled=data.sampled or training_rows < len(data.x_train)).model_dump(exclude_unset=True)
