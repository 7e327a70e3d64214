"""Preprocessing operations."""
from __future__ import annotations

from typing import Optional

import strawberry

from resolvers import preprocessing as preprocessing_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import UserError, raw_id, user_error
from schema.datasets import Dataset
from schema.jobs import Job
from schema.preprocessing import PreprocessDatasetInput, step_to_params


@strawberry.type
class PreprocessDatasetPayload:
    dataset: Optional[Dataset] = strawberry.field(default=None, description="The new version")
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PreprocessingMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Derive a new dataset version by running the steps in a PREPROCESS job; the "
                                     "source is never changed. Bad steps are refused before anything is created.")
    async def preprocess_dataset(self, info: strawberry.Info, input: PreprocessDatasetInput) -> PreprocessDatasetPayload:
        try:
            version, job = await preprocessing_resolvers.start(
                info.context, dataset_id=raw_id(input.dataset_id, "Dataset"),
                steps=[step_to_params(step) for step in input.steps], name=input.name)
        except ServiceError as exc:
            return PreprocessDatasetPayload(errors=[user_error(exc)])
        return PreprocessDatasetPayload(dataset=Dataset.from_row(version), job=Job.from_row(job))
