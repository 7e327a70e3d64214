"""Model files for download: the joblib pipeline as trained, the same as a plain pickle (seed 001's .pkl), a
skops file that loads without pickle, or ONNX."""

from __future__ import annotations

import pickle
from pathlib import Path

from services import files
from services.errors import ErrorCode, ServiceError, invalid
from services.modeling import ModelStatus
from services.modeling.onnx_export import onnx_bytes
from services.modeling.predict import load_pipeline
from services.storage.tables import Model

# The project's own callables inside a pipeline; skops users pass these (plus skops' defaults) as trusted.
SKOPS_TRUSTED = [
    "services.modeling.estimators._as_float",
    "services.modeling.estimators._as_text",
    "services.modeling.estimators.datetime_part_columns",
    "services.preprocessing.steps.DatetimeFeatures",
]
EXPORT_FORMATS = ("JOBLIB", "PICKLE", "SKOPS", "ONNX")
# The extension a downloaded file is named with (the URL itself carries the format's name).
FILE_EXTENSIONS = {"JOBLIB": "joblib", "PICKLE": "pkl", "SKOPS": "skops", "ONNX": "onnx"}


def check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise invalid(f"Unknown format {fmt}", ["format"])


def check_exportable(data_dir: Path, model: Model, fmt: str) -> None:
    """Only a READY model whose trained file is on disk has anything to export."""
    check_format(fmt)
    if model.status != ModelStatus.READY:
        raise ServiceError(ErrorCode.NOT_FOUND, f"The model is {model.status}: it has no file to export", ["exportUrl"])
    if not files.fetched(files.model_path(data_dir, model.id)).exists():
        raise ServiceError(ErrorCode.NOT_FOUND, "The model's file is missing; train it again", ["exportUrl"])


def export_path(data_dir: Path, model: Model, fmt: str) -> Path:
    """The file to download, written on first request (conversion errors are INVALID_INPUT)."""
    check_exportable(data_dir, model, fmt)
    if fmt == "JOBLIB":
        return files.model_path(data_dir, model.id)
    target = files.model_dir(data_dir, model.id) / f"model.{fmt.lower()}"
    if not files.fetched(target).exists():  # converted once, by whichever replica is asked first
        pipeline = load_pipeline(data_dir, model.id)
        if fmt == "ONNX":
            content = onnx_bytes(pipeline, model.details["features"], model.task)
            with files.atomic_output(target) as temporary:
                temporary.write_bytes(content)
        elif fmt == "PICKLE":
            # joblib's file needs joblib.load (its numpy arrays are stored outside the pickle stream);
            # plain pickle.load opens this one. Protocol 5: numpy arrays pickle without extra copies.
            with files.atomic_output(target) as temporary, temporary.open("wb") as handle:
                pickle.dump(pipeline, handle, protocol=5)
        else:
            import skops.io as sio

            with files.atomic_output(target) as temporary:
                sio.dump(pipeline, temporary)
        files.publish(target)
    return target
