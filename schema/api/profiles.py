"""Profile operations."""
from __future__ import annotations

from typing import Optional

import strawberry

from resolvers import profiles as profile_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import UserError, raw_id, user_error
from schema.datasets import Dataset
from schema.jobs import Job
from schema.profiles import ProfileDatasetInput


@strawberry.type
class ProfileDatasetPayload:
    dataset: Optional[Dataset] = None
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProfilesMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Profile a READY dataset in a PROFILE job; the result is stored on the dataset")
    async def profile_dataset(self, info: strawberry.Info, input: ProfileDatasetInput) -> ProfileDatasetPayload:
        try:
            dataset, job = await profile_resolvers.start(info.context, dataset_id=raw_id(input.dataset_id, "Dataset"),
                                                         plots=input.plots, bins=input.bins)
        except ServiceError as exc:
            return ProfileDatasetPayload(errors=[user_error(exc)])
        return ProfileDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))
