"""Datasets: uploads, versions, rows and charts (the DB side); ingest parsing lives in services/ingest."""

from enum import StrEnum


class DatasetStatus(StrEnum):
    """Where a dataset version is: waiting for its INGEST (or PREPROCESS / PREDICT / PIPELINE) job, being
    written, usable, or failed. The API's DatasetStatus is this enum (schema/datasets.py)."""

    PENDING = "PENDING"
    INGESTING = "INGESTING"
    READY = "READY"
    FAILED = "FAILED"
