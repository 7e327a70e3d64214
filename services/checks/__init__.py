"""Data checks as saved suites: drafted from a profile, validated on any dataset version, reused by pipelines."""

from enum import StrEnum


class ValidationStatus(StrEnum):
    """Where a validation of a dataset against a suite stands: its VALIDATE job queued or running, then whether
    every failing check was only a warning (PASSED), some was not (FAILED), or the job itself failed (ERROR).
    The API's ValidationStatus is this enum (schema/checks.py)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"
