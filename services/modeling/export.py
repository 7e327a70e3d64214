"""Model files for download: the joblib pipeline as trained, or a skops file that loads without pickle."""
from __future__ import annotations

from pathlib import Path

from services import files
from services.errors import ServiceError
from services.modeling.models import load_pipeline

# The project's own callables inside a pipeline; skops users pass these (plus skops' defaults) as trusted.
SKOPS_TRUSTED = ["services.modeling.pipelines._as_float", "services.modeling.pipelines._as_text",
                 "services.modeling.pipelines.datetime_part_columns", "services.preprocessing.steps.DatetimeFeatures"]
EXPORT_FORMATS = ("JOBLIB", "SKOPS")


def check_format(fmt: str) -> None:
    if fmt == "ONNX":
        raise ServiceError("INVALID_INPUT", "ONNX export is not available yet: the server does not include skl2onnx, "
                           "and the pipelines' datetime and type-coercion steps have no ONNX converter", ["format"])
    if fmt not in EXPORT_FORMATS:
        raise ServiceError("INVALID_INPUT", f"Unknown format {fmt}", ["format"])


def export_path(data_dir: Path, model_id: str, fmt: str) -> Path:
    check_format(fmt)
    if fmt == "JOBLIB":
        return files.model_path(data_dir, model_id)
    target = files.model_dir(data_dir, model_id) / "model.skops"
    if not target.exists():
        import skops.io as sio
        with files.atomic_output(target) as temporary:
            sio.dump(load_pipeline(data_dir, model_id), temporary)
    return target
