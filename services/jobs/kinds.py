"""Which body runs for each job kind, and what its end means for the objects it touches."""
from __future__ import annotations

from services import datasets, profiles
from services.analysis import service as analysis
from services.jobs.engine import JobKindSpec
from services.modeling import models
from services.pipelines import service as pipelines
from services.preprocessing import versions

JOB_KINDS: dict[str, JobKindSpec] = {
    "INGEST": JobKindSpec(work="services.ingest.job:run_ingest", on_start=datasets.on_ingest_start,
                          on_success=datasets.on_ingest_success, on_failure=datasets.on_ingest_failure),
    "PROFILE": JobKindSpec(work="services.profiling.job:run_profile", on_success=profiles.on_profile_success,
                           on_failure=profiles.on_profile_failure),
    "PREPROCESS": JobKindSpec(work="services.preprocessing.job:run_preprocess", on_start=versions.on_preprocess_start,
                              on_success=versions.on_preprocess_success, on_failure=versions.on_preprocess_failure),
    "TRAIN": JobKindSpec(work="services.modeling.train:run_train", on_success=models.on_train_success,
                         on_failure=models.on_train_failure),
    "PREDICT": JobKindSpec(work="services.modeling.predict_job:run_predict", on_start=versions.on_preprocess_start,
                           on_success=versions.on_preprocess_success, on_failure=versions.on_preprocess_failure),
    "PIPELINE": JobKindSpec(work="services.pipelines.job:run_pipeline", on_start=pipelines.on_run_start,
                            on_success=pipelines.on_run_success, on_failure=pipelines.on_run_failure),
    "ANALYZE": JobKindSpec(work="services.analysis.job:run_analysis", on_success=analysis.on_analysis_success, on_failure=analysis.on_analysis_failure),
    "REPORT": JobKindSpec(work="services.reports.job:run_report", on_success=analysis.on_report_success,
                          on_failure=analysis.on_report_failure),
}
