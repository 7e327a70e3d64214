"""The base of the typed JSON a job stores and the schema reads back (job results, JSON columns)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StoredModel(BaseModel):
    """Unknown keys are ignored (a newer worker may write more than this server reads)."""

    model_config = ConfigDict(extra="ignore")
