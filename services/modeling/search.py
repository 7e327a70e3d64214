"""Training's compare stage: candidates cross-validated within a time budget, a tuning plan for the time
left, a second round on a larger sample, and the winner whose refit fits the budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from services.errors import invalid
from services.jobs.context import JobContext
from services.modeling.estimators import (
    RELATIVE_FIT_COST,
    SEARCH_TRIALS,
    SEARCHABLE,
    VARIANTS,
    build_pipeline,
    sample_params,
)
from services.modeling.prepare import PreparedData
from services.modeling.spec import TrainingSpec
from services.modeling.tasks import CLASSIFIERS, REGRESSORS

COMPARE_ROWS = 20_000  # candidates are compared on at most this many training rows
SECOND_ROUND_GROWTH = 4  # the two best are compared again on a sample this many times larger


def describe_variant(variant: dict[str, Any] | None) -> str:
    return f" {variant}" if variant else ""


@dataclass(frozen=True)
class Candidate:
    """One configuration's cross-validated score on one sample of the training split."""

    algorithm: str
    params: dict[str, Any] | None  # a variant's or a random trial's estimator parameters; None for the defaults
    metric: str
    score: float  # the mean over the folds
    std: float
    fit_seconds: float  # per fold
    rows: int  # the sample it was compared on
    scores: tuple[float, ...]  # each fold's

    def entry(self, *, selected: bool) -> dict[str, Any]:
        """The leaderboard entry the model keeps and the API shows: all but the fold scores."""
        return {
            "algorithm": self.algorithm,
            "params": self.params,
            "metric": self.metric,
            "score": self.score,
            "std": self.std,
            "fit_seconds": self.fit_seconds,
            "rows": self.rows,
            "selected": selected,
        }


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
            fixed: list[tuple[str, dict[str, Any] | None]] = [
                (algorithm, VARIANTS[algorithm][depth])
                for depth in range(max(map(len, VARIANTS.values())))
                for algorithm in leaders
                if depth < len(VARIANTS.get(algorithm, []))
            ]
            if fixed:
                return fixed
        searchable = [algorithm for algorithm in leaders if algorithm in SEARCHABLE and algorithm not in self.too_slow]
        if self.trials >= self.trial_limit or not searchable:
            return []
        algorithm = searchable[self.trials % len(searchable)]
        self.trials += 1
        return [(algorithm, sample_params(algorithm, self.rng))]


def choose_winner(
    leaderboard: list[Candidate],
    *,
    training_rows: int,
    budget: float | None,
    log: Callable[..., None],
    max_refit_seconds: float | None = None,
) -> Candidate:
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

    affordable = (
        [c for c in final_round if refit_seconds(c) <= limit]
        or [c for c in leaderboard if refit_seconds(c) <= limit]
        or [min(leaderboard, key=refit_seconds)]
    )
    most_rows = max(c.rows for c in affordable)
    chosen = max((c for c in affordable if c.rows == most_rows), key=lambda c: c.score)
    if chosen is not best:
        log(
            f"Chose {chosen.algorithm} over {best.algorithm} ({best.score:.4f} vs {chosen.score:.4f}): "
            f"refitting {best.algorithm} on all training rows would take about "
            f"{refit_seconds(best):.0f} s, beyond the {limit:g} s budget",
            "WARNING",
        )
    return chosen


def second_round(
    leaderboard: list[Candidate], *, sample_rows: int, training_rows: int, seconds_left: float, folds: int
) -> tuple[int, list[Candidate]] | None:
    """Successive halving on large data: the two best configurations again on a sample SECOND_ROUND_GROWTH
    times larger, when both fit in the time left. Forests and boosting gain differently from rows, so the
    small sample alone does not decide between close leaders. None when it does not fit or there is no
    larger sample to take."""
    rows = min(training_rows, sample_rows * SECOND_ROUND_GROWTH)
    ranked = sorted(leaderboard, key=lambda c: -c.score)
    leaders = [
        c
        for index, c in enumerate(ranked)
        if all((c.algorithm, c.params) != (o.algorithm, o.params) for o in ranked[:index])
    ][:2]
    if rows <= sample_rows or len(leaders) < 2:
        return None
    expected = sum(c.fit_seconds * rows / c.rows for c in leaders) * folds
    return (rows, leaders) if expected <= seconds_left else None


class CandidateSearch:
    """The compare stage: every requested algorithm by cross-validation on (a sample of) the training split,
    then, with a time budget, the tuning plan's configurations while they fit, and on large data a second
    round of the two best on a larger sample. `run` returns the winner and the whole leaderboard."""

    def __init__(self, ctx: JobContext, spec: TrainingSpec, data: PreparedData) -> None:
        self.ctx, self.spec, self.data = ctx, spec, data
        self.budget = spec.time_budget_seconds
        self.leaderboard: list[Candidate] = []
        self.folds = (StratifiedKFold if data.task == "CLASSIFICATION" else KFold)(
            n_splits=spec.cv_folds, shuffle=True, random_state=spec.seed
        )

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
            self.larger_sample_round(len(compare_x), started, self.budget)
        if not self.leaderboard:
            raise invalid("No candidate could be trained within the budget")
        best = choose_winner(
            self.leaderboard,
            training_rows=len(self.data.x_train),
            budget=self.budget,
            log=self.ctx.log,
            max_refit_seconds=self.spec.max_refit_seconds,
        )
        return best, self.leaderboard

    def algorithms(self) -> list[str]:
        requested = list(self.spec.algorithms)
        if "AUTO" in requested:
            candidates = CLASSIFIERS if self.data.task == "CLASSIFICATION" else REGRESSORS
            rows = len(self.data.x_train)
            if self.spec.hgb_min_rows and rows < self.spec.hgb_min_rows and "HIST_GRADIENT_BOOSTING" in candidates:
                self.ctx.log(
                    f"HIST_GRADIENT_BOOSTING left out: {rows:,} training rows, fewer than the "
                    f"{self.spec.hgb_min_rows:,} it needs (hgbMinRows)"
                )
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
                    self.ctx.log(
                        f"Skipped {algorithm}{describe_variant(variant)}: about {expected:.1f} s more would "
                        f"overrun the {self.budget:g} s budget",
                        "WARNING",
                    )
                    tuning.too_slow.add(algorithm)  # no more random trials of it; the other may still fit
                    continue
            self.evaluate(algorithm, variant, compare_x, compare_y)
            self.ctx.progress(0.1 + 0.6 * min(1.0, index / max(len(runs), 1)))

    def larger_sample_round(self, sample_rows: int, started: float, budget: float) -> None:
        training_rows = len(self.data.x_train)
        promoted = second_round(
            self.leaderboard,
            sample_rows=sample_rows,
            training_rows=training_rows,
            seconds_left=budget - (time.perf_counter() - started),
            folds=self.spec.cv_folds,
        )
        if promoted:
            rows, leaders = promoted
            self.ctx.log(
                f"Comparing the two best again on {'all ' if rows == training_rows else 'a sample of '}"
                f"{rows:,} training rows"
            )
            bigger_x, bigger_y = self.data.x_train, self.data.y_train
            if rows < training_rows:
                bigger_x, bigger_y = self.data.training_sample(rows, self.spec.seed)
            for leader in leaders:
                self.ctx.checkpoint()
                self.evaluate(leader.algorithm, leader.params, bigger_x, bigger_y)
        else:
            self.ctx.log("No second round on a larger sample: it would not fit in the time left")
        self.ctx.progress(0.7)

    def evaluate(
        self, algorithm: str, variant: dict[str, Any] | None, sample_x: pd.DataFrame, sample_y: pd.Series
    ) -> None:
        """Cross-validate one configuration on a sample and add it to the leaderboard (or log why it failed)."""
        metric, began = self.data.metric, time.perf_counter()
        pipeline = build_pipeline(algorithm, self.data.task, self.data.features, self.spec.seed, len(sample_x), variant)
        try:
            # "raise": a fold that fails fails the candidate; scikit-learn's default would score it NaN, and a NaN
            # mean could win the leaderboard and be stored as a null score the model's details cannot load.
            scores = cross_val_score(
                pipeline, sample_x, sample_y, cv=self.folds, scoring=metric, n_jobs=1, error_score="raise"
            )
        except Exception as exc:  # noqa: BLE001 - any fold's failure drops this candidate only (the stage's stop is a BaseException)
            self.ctx.log(f"{algorithm} failed: {exc}", "WARNING")
            return
        if not np.isfinite(scores).all():  # a metric undefined on some fold (one class only) scores it NaN
            self.ctx.log(f"{algorithm}{describe_variant(variant)} left out: {metric} undefined on a fold", "WARNING")
            return
        seconds = (time.perf_counter() - began) / self.spec.cv_folds
        self.leaderboard.append(
            Candidate(
                algorithm=algorithm,
                params=variant,
                metric=metric,
                score=float(np.mean(scores)),
                std=float(np.std(scores)),
                fit_seconds=seconds,
                rows=len(sample_x),
                scores=tuple(float(s) for s in scores),
            )
        )
        self.ctx.log(
            f"{algorithm}{describe_variant(variant)}: {metric} {np.mean(scores):.4f} ± {np.std(scores):.4f} "
            f"({seconds:.2f} s per fit on {len(sample_x):,} rows)"
        )
