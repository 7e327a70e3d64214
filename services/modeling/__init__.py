"""Models: training (train.py: the stages in prepare.py, search.py, evaluate.py), scikit-learn pipelines
(estimators.py), prediction, export; service.py is the DB side. Kept free of scikit-learn imports: the API
process loads it only when a model is used."""

from enum import StrEnum


class ModelStatus(StrEnum):
    """The API's ModelStatus is this enum (schema/models.py)."""

    TRAINING = "TRAINING"
    READY = "READY"
    FAILED = "FAILED"
