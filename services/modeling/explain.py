"""Per-row explanations: each input feature's contribution to one prediction, so that
base value + contributions = the model's output (per class for classifiers), in a named output space.

- Linear models (linear regression, ridge, logistic regression): exact, coefficient x (transformed value -
  its mean over a training sample), the transformed columns summed back to the input feature they came from
  (one-hot levels to their category, date parts to their date).
- Tree ensembles (random forest, extra trees, histogram gradient boosting): TreeSHAP from the `shap` library
  (path-dependent: no background data needed, exact for the trees).
- Anything else: shap's KernelSHAP in the raw input space, with a stated budget (coalitions evaluated per row,
  each averaged over a stated number of background rows); additive by construction, approximate in its values.

`contribution_columns(explainer, batch)` is what the PREDICT job appends per batch; `explain_frame` is the
array form every caller shares. scikit-learn and shap are imported only when a model is explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services import files
from services.errors import invalid

BACKGROUND_ROWS = 1000  # training rows kept beside a model: the linear reference mean and the sampling background
SAMPLING_BACKGROUND = 50  # of those, the rows each sampled coalition is averaged over (KernelSHAP)
SAMPLING_EXTRA = 256  # coalitions per row beyond 2 x features (all 2^f - 2 when fewer: then none is sampled)
FOREST_DIRECT_ROWS = 100  # up to this many rows, a forest's output is its trees' average without joblib
MAX_SAMPLED_ROWS = 50  # rows one predict call may explain by sampling (tens of ms to seconds each)

# Output spaces (the API's OutputSpace enum): where base value + contributions = output holds.
VALUE, PROBABILITY, LOG_ODDS, MULTICLASS_LOGIT = "VALUE", "PROBABILITY", "LOG_ODDS", "MULTICLASS_LOGIT"
# Methods (the API's ExplanationMethod enum).
LINEAR_EXACT, TREE_SHAP, KERNEL_SHAP = "LINEAR_EXACT", "TREE_SHAP", "KERNEL_SHAP"

LINEAR_MODELS = ("LinearRegression", "Ridge", "LogisticRegression")
FORESTS = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor")
BOOSTING = ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor")


@dataclass(frozen=True)
class ExplainedBatch:
    """Arrays for n rows, k outputs (classes, or one value) and f input features."""

    labels: list[str] | None  # one per output for classifiers; None for regression
    base: np.ndarray  # (k,) or, for sampling, (n, k): the expected output
    outputs: np.ndarray  # (n, k): the model's output in the explainer's space
    contributions: np.ndarray  # (n, k, f)


@dataclass(frozen=True)
class OutputExplanation:
    label: str | None
    base_value: float
    output: float
    contributions: list[tuple[str, float]]  # (input feature, contribution) in the model's feature order


@dataclass(frozen=True)
class RowExplanation:
    method: str
    output_space: str
    exact: bool
    evaluations_per_row: int | None
    background_rows: int | None
    outputs: list[OutputExplanation]


def exact_method(pipeline: Any) -> str | None:
    """LINEAR_EXACT or TREE_SHAP when the pipeline's model has one (decided without importing shap), else None."""
    kind = type(pipeline[-1] if hasattr(pipeline, "steps") else pipeline).__name__
    if kind not in LINEAR_MODELS + FORESTS + BOOSTING or not hasattr(pipeline, "steps"):
        return None
    return LINEAR_EXACT if kind in LINEAR_MODELS else TREE_SHAP


class Explainer:
    """One model's explainer, built once (TreeSHAP converts the trees; the linear one holds the reference)."""

    def __init__(self, pipeline: Any, *, task: str, features: list[str], background: pd.DataFrame | None) -> None:
        self.pipeline, self.task, self.features = pipeline, task, features
        self.classify = task == "CLASSIFICATION"
        self.labels = [str(c) for c in pipeline.classes_] if self.classify else None
        final = pipeline[-1] if hasattr(pipeline, "steps") else pipeline
        kind = type(final).__name__
        self.groups = _feature_groups(pipeline, features)
        self.evaluations_per_row: int | None = None
        self.background_rows: int | None = None
        exact = exact_method(pipeline) if self.groups is not None else None
        if exact == LINEAR_EXACT and background is not None and len(background):
            self.method, self.exact = LINEAR_EXACT, True
            reference = _dense(pipeline[:-1].transform(background[features]))
            self.reference = reference.mean(axis=0)
            self.space = VALUE if not self.classify else (LOG_ODDS if self._two_classes else MULTICLASS_LOGIT)
        elif exact == TREE_SHAP:
            import shap  # 3-4 s to import; only when a tree model is first explained

            self.method, self.exact = TREE_SHAP, True
            self.tree = shap.TreeExplainer(final)
            # A forest's trees compare float32 features; TreeSHAP gets the same rounding, so it follows the same paths.
            self.float32 = kind in FORESTS
            self.space = (
                VALUE
                if not self.classify
                else PROBABILITY
                if kind in FORESTS
                else LOG_ODDS
                if self._two_classes
                else MULTICLASS_LOGIT
            )
        elif background is not None and len(background):
            self.method, self.exact = KERNEL_SHAP, False
            self.space = PROBABILITY if self.classify else VALUE
            self.background = background[features].sample(min(SAMPLING_BACKGROUND, len(background)), random_state=0)
            self.background_rows = len(self.background)
            self.evaluations_per_row = max(1, min(2 ** len(features) - 2, 2 * len(features) + SAMPLING_EXTRA))
        else:
            raise invalid(
                f"This model ({kind}) keeps no training sample and its training dataset is gone: its "
                "explanations need one as their reference",
                ["explain"],
            )

    @property
    def _two_classes(self) -> bool:
        return self.labels is not None and len(self.labels) == 2

    # -- the arrays -------------------------------------------------------------------------------------------
    def explain_frame(self, frame: pd.DataFrame) -> ExplainedBatch:
        frame = frame[self.features]
        if self.method == LINEAR_EXACT:
            return self._linear(frame)
        if self.method == TREE_SHAP:
            return self._trees(frame)
        return self._sampled(frame)

    def _linear(self, frame: pd.DataFrame) -> ExplainedBatch:
        model = self.pipeline[-1]
        z = _dense(self.pipeline[:-1].transform(frame))
        coef = np.atleast_2d(model.coef_)  # (k', p)
        intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))  # (k',)
        outputs = z @ coef.T + intercept  # (n, k'): decision_function / predict
        contributions = ((z - self.reference)[:, None, :] * coef[None, :, :]) @ self.groups  # (n, k', f)
        base = intercept + coef @ self.reference
        return self._binary_both_ways(base, outputs, contributions)

    def _trees(self, frame: pd.DataFrame) -> ExplainedBatch:
        model = self.pipeline[-1]
        z = _dense(self.pipeline[:-1].transform(frame))
        if self.float32:
            z = z.astype(np.float32).astype(np.float64)
        values = np.asarray(self.tree.shap_values(z, check_additivity=False))  # (n, p) or (n, p, k)
        if values.ndim == 2:
            values = values[:, :, None]
        assert self.groups is not None  # TreeSHAP is chosen only when the groups are known
        contributions = np.einsum("npk,pf->nkf", values, self.groups)
        base = np.atleast_1d(np.asarray(self.tree.expected_value, dtype=float))
        if self.float32 and len(z) <= FOREST_DIRECT_ROWS:
            from services.modeling.estimators import forest_average  # predict's own path for a few rows

            outputs = forest_average(model, z, "predict_proba" if self.classify else "predict").reshape(len(z), -1)
        elif not self.classify:
            outputs = model.predict(z).reshape(-1, 1)
        elif self.space == PROBABILITY:
            outputs = model.predict_proba(z)
        else:
            outputs = np.asarray(model.decision_function(z)).reshape(len(z), -1)
        return self._binary_both_ways(base, outputs, contributions)

    def _binary_both_ways(self, base: np.ndarray, outputs: np.ndarray, contributions: np.ndarray) -> ExplainedBatch:
        """Binary log-odds come for the second class only; the first class's are their negation (exactly)."""
        if self._two_classes and outputs.shape[1] == 1:
            base, outputs, contributions = (
                np.concatenate([-base, base]),
                np.hstack([-outputs, outputs]),
                np.concatenate([-contributions, contributions], axis=1),
            )
        return ExplainedBatch(self.labels, base, outputs, contributions)

    def _sampled(self, frame: pd.DataFrame) -> ExplainedBatch:
        import shap

        # shap needs numbers: every raw value (text, dates, missing) becomes its code in a per-column table.
        both = pd.concat([self.background, frame], ignore_index=True)
        codes = np.empty(both.shape, dtype=float)
        tables = []
        for j, name in enumerate(self.features):
            column_codes, uniques = pd.factorize(both[name], use_na_sentinel=False)
            codes[:, j] = column_codes
            tables.append((name, uniques))
        dtypes = frame.dtypes

        def model_output(coded: np.ndarray) -> np.ndarray:
            index = coded.astype(int)
            raw = pd.DataFrame({name: uniques.take(index[:, j]) for j, (name, uniques) in enumerate(tables)})
            raw = raw.astype(dtypes)
            predicted: np.ndarray = self.pipeline.predict_proba(raw) if self.classify else self.pipeline.predict(raw)
            return predicted

        # KernelSHAP, not the permutation explainer: that one JIT-compiles numba code on first use (10-40 s).
        explainer = shap.KernelExplainer(model_output, codes[: len(self.background)])
        rows = codes[len(self.background) :]
        values = np.asarray(explainer.shap_values(rows, nsamples=self.evaluations_per_row, silent=True))
        values = values[:, :, None] if values.ndim == 2 else values  # (n, f, k)
        base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
        outputs = model_output(rows).reshape(len(frame), -1)
        return ExplainedBatch(self.labels, base, outputs, values.transpose(0, 2, 1))

    # -- the API's shapes ---------------------------------------------------------------------------------------
    def explain_rows(self, frame: pd.DataFrame) -> list[RowExplanation]:
        if self.method == KERNEL_SHAP and len(frame) > MAX_SAMPLED_ROWS:
            raise invalid(
                f"This model's explanations are sampled (up to seconds a row): at most "
                f"{MAX_SAMPLED_ROWS} rows per call with explain",
                ["rows"],
            )
        batch = self.explain_frame(frame)
        labels: list[str | None] = [*batch.labels] if batch.labels else [None]
        result = []
        for i in range(len(frame)):
            base = batch.base[i] if batch.base.ndim == 2 else batch.base
            outputs = [
                OutputExplanation(
                    label=label,
                    base_value=float(base[k]),
                    output=float(batch.outputs[i, k]),
                    contributions=[
                        (name, float(v)) for name, v in zip(self.features, batch.contributions[i, k], strict=True)
                    ],
                )
                for k, label in enumerate(labels)
            ]
            result.append(
                RowExplanation(
                    self.method, self.space, self.exact, self.evaluations_per_row, self.background_rows, outputs
                )
            )
        return result


def contribution_columns(explainer: Explainer, batch: pd.DataFrame) -> pd.DataFrame:
    """The columns predictDataset appends for one batch: `contrib__<feature>` and `base_value` (regression), or
    `contrib__<class>__<feature>` and `base_value__<class>` per class; base value + a row's contributions of one
    class = that class's output in the explainer's space."""
    explained = explainer.explain_frame(batch)
    columns: dict[str, np.ndarray] = {}
    labels: list[str | None] = [*explained.labels] if explained.labels else [None]
    base = explained.base if explained.base.ndim == 2 else np.broadcast_to(explained.base, (len(batch), len(labels)))
    for k, label in enumerate(labels):
        prefix = "contrib__" if label is None else f"contrib__{label}__"
        for j, name in enumerate(explainer.features):
            columns[f"{prefix}{name}"] = explained.contributions[:, k, j]
        columns["base_value" if label is None else f"base_value__{label}"] = np.array(base[:, k], dtype=float)
    return pd.DataFrame(columns, index=batch.index)


def _dense(values: Any) -> np.ndarray:
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values, dtype=np.float64)


def _feature_groups(pipeline: Any, features: list[str]) -> np.ndarray | None:
    """A (transformed columns x input features) 0/1 matrix: which input feature each column the model sees came
    from. None when the pipeline is not our ColumnTransformer + model shape (then only sampling applies)."""
    prepare = pipeline[0] if hasattr(pipeline, "steps") and len(pipeline.steps) == 2 else None
    if prepare is None or not hasattr(prepare, "output_indices_"):
        return None
    width = max((s.stop for s in prepare.output_indices_.values()), default=0)
    groups = np.zeros((width, len(features)))
    position = {name: j for j, name in enumerate(features)}
    for name, transformer, columns in prepare.transformers_:
        where = prepare.output_indices_[name]
        if transformer == "drop" or where.stop == where.start:
            continue
        columns = list(columns)
        if any(c not in position for c in columns):
            return None
        counts = _outputs_per_column(transformer, columns, where.stop - where.start)
        if counts is None:
            return None
        start = where.start
        for column, count in zip(columns, counts, strict=True):
            groups[start : start + count, position[column]] = 1.0
            start += count
    return groups


def _outputs_per_column(transformer: Any, columns: list[str], width: int) -> list[int] | None:
    """How many transformed columns each input column became: all of them for a single input (a date's parts),
    one each for one-to-one steps, one per kept level (plus one for the infrequent) for one-hot."""
    if len(columns) == 1:
        return [width]
    if width == len(columns):
        return [1] * len(columns)
    encoder = transformer[-1] if hasattr(transformer, "steps") else transformer
    if type(encoder).__name__ != "OneHotEncoder" or getattr(encoder, "drop", None) is not None:
        return None
    infrequent = getattr(encoder, "infrequent_categories_", [None] * len(columns))
    counts = [
        len(levels) - (len(rare) - 1 if rare is not None else 0)
        for levels, rare in zip(encoder.categories_, infrequent, strict=True)
    ]
    return counts if sum(counts) == width else None


# -- the training sample kept beside a model -----------------------------------------------------------------
def background_path(data_dir: Path, model_id: str) -> Path:
    return files.model_dir(data_dir, model_id) / "explain_background.parquet"


def save_background(data_dir: Path, model_id: str, x_train: pd.DataFrame, seed: int) -> None:
    """Up to BACKGROUND_ROWS training rows, written when the model is saved (the reference for explanations)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sample = x_train.sample(min(BACKGROUND_ROWS, len(x_train)), random_state=seed)
    with files.atomic_output(background_path(data_dir, model_id)) as temporary:
        pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), temporary)


def read_background(data_dir: Path, model_id: str, dataset_id: str | None, features: list[str]) -> pd.DataFrame | None:
    """The kept training sample; for a model trained before it was kept, a sample of its training dataset."""
    import pyarrow.parquet as pq

    kept = files.fetched(background_path(data_dir, model_id))
    if kept.exists():
        background: pd.DataFrame = pq.read_table(kept).to_pandas(date_as_object=False)
        return background
    source = files.fetched(files.parquet_path(data_dir, dataset_id)) if dataset_id else None
    if source is None or not source.exists():
        return None
    from services import dataplane

    return dataplane.sampled_frame(source, features, BACKGROUND_ROWS, seed=0)  # streamed: the table is never held
