"""ONNX export: the fitted pipeline without its type-coercion steps, converted by skl2onnx.

ONNX inputs are typed, so the steps that coerce a DataFrame's columns to numbers or text are
left out; the ONNX model takes one input per feature, named like the column: float32 [N, 1] for
numeric and boolean features (NaN when missing), string [N, 1] for categories ("" when missing).
Date features are split into parts by a step that has no ONNX converter: such models are refused
with INVALID_INPUT naming the columns.
"""

from __future__ import annotations

import copy
from typing import Any

from services.errors import invalid

OPSETS = {"": 18, "ai.onnx.ml": 3}


def onnx_bytes(pipeline: Any, features: list[dict[str, Any]], task: str) -> bytes:
    dated = [f["name"] for f in features if f["semantic_type"] == "DATETIME"]
    if dated:
        raise invalid(
            f"ONNX export is not available for this model: {', '.join(dated)} "
            f"{'is a date column' if len(dated) == 1 else 'are date columns'}, and the step that "
            "splits dates into parts has no ONNX converter. Export SKOPS or JOBLIB instead.",
            ["format"],
        )
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    typed = _without_coercion(pipeline)
    inputs = [
        (
            f["name"],
            FloatTensorType([None, 1]) if f["semantic_type"] in ("NUMERIC", "BOOLEAN") else StringTensorType([None, 1]),
        )
        for f in features
    ]
    options = {id(typed.named_steps["model"]): {"zipmap": False}} if task == "CLASSIFICATION" else None
    try:
        model: bytes = convert_sklearn(
            typed, initial_types=inputs, options=options, target_opset=OPSETS
        ).SerializeToString()
        return model
    except Exception as exc:
        raise invalid(f"skl2onnx could not convert this pipeline: {exc}", ["format"]) from exc


def _without_coercion(pipeline: Any) -> Any:
    """A copy whose column pipelines start at the imputer: ONNX inputs already have their types."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    typed = copy.deepcopy(pipeline)
    prepare = typed.named_steps["prepare"]
    transformers = []
    for name, part, columns in prepare.transformers_:
        if isinstance(part, Pipeline):
            steps = [(step_name, step) for step_name, step in part.steps if not isinstance(step, FunctionTransformer)]
            for _, step in steps:
                if isinstance(step, SimpleImputer) and step.statistics_.dtype == object:
                    step.missing_values = ""  # missing text arrives as "" in a string tensor
            part = Pipeline(steps) if len(steps) > 1 else steps[0][1]
        transformers.append((name, part, columns))
    prepare.transformers_ = transformers
    return typed
