"""What a training run is asked to do: the typed spec trainModel and analyses build, and its JSON form in
the TRAIN job's params."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

DEFAULT_TEST_SIZE = 0.2
DEFAULT_CV_FOLDS = 5
DEFAULT_SEED = 0
AUTO = ("AUTO",)  # compare every algorithm of the task, keep the best


@dataclass(frozen=True)
class TrainingSpec:
    """A training request with the business defaults; the checks live in start_training (they need the data)."""

    dataset_id: str | None
    target: str
    task: str | None = None  # detected from the target when None
    algorithms: tuple[str, ...] = AUTO
    features: tuple[str, ...] | None = None  # every usable column when None; empty is an error
    test_size: float = DEFAULT_TEST_SIZE
    cv_folds: int = DEFAULT_CV_FOLDS
    time_budget_seconds: float | None = None
    seed: int = DEFAULT_SEED
    name: str | None = None  # names the model row; not part of the job's params
    max_refit_seconds: float | None = None  # choose_winner's refit limit (analyses set it; see there)
    # Analyses' knobs (services/analysis/options.py), kept in the params only when set:
    compare_rows: int | None = None  # candidates compared on at most this many rows (EARLY_STOP_SAMPLE)
    hgb_min_rows: int | None = None  # gradient boosting a candidate only from this many training rows
    max_rows: int | None = None  # read at most this many labelled rows (LARGE_FILE_MB sampling)

    @classmethod
    def requested(
        cls,
        *,
        dataset_id: str | None,
        target: str,
        task: str | None = None,
        algorithms: list[str] | None = None,
        features: list[str] | None = None,
        test_size: float | None = None,
        cv_folds: int | None = None,
        time_budget_seconds: float | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> TrainingSpec:
        """From an API request, where an absent (None) option means its default and no algorithms mean AUTO."""
        return cls(
            dataset_id=dataset_id,
            target=target,
            task=task,
            algorithms=tuple(algorithms or AUTO),
            features=None if features is None else tuple(features),
            test_size=DEFAULT_TEST_SIZE if test_size is None else test_size,
            cv_folds=DEFAULT_CV_FOLDS if cv_folds is None else cv_folds,
            time_budget_seconds=time_budget_seconds,
            seed=seed or DEFAULT_SEED,
            name=name,
        )

    def to_params(self) -> dict[str, Any]:
        """The JSON the job keeps: the keys TRAIN jobs have always had (max_refit_seconds only when set)."""
        params = {
            "dataset_id": self.dataset_id,
            "target": self.target,
            "task": self.task,
            "algorithms": list(self.algorithms),
            "features": None if self.features is None else list(self.features),
            "test_size": self.test_size,
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "time_budget_seconds": self.time_budget_seconds,
        }
        for name in ("max_refit_seconds", "compare_rows", "hgb_min_rows", "max_rows"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingSpec:
        """Back from a job's params, old jobs' too: keys it does not know (model_id, columns...) are not its own,
        and one it lacks takes its default."""
        known = {f.name for f in fields(cls)}
        given = {key: value for key, value in params.items() if key in known}
        given["algorithms"] = tuple(given.get("algorithms") or AUTO)
        if given.get("features") is not None:
            given["features"] = tuple(given["features"])
        if "seed" in given:
            given["seed"] = int(given["seed"])
        return cls(**given)
