"""Profile the caller's datasets."""
from __future__ import annotations

from typing import Optional

import strawberry

from services.profiling import service as profiles

from resolvers.context import Context
from resolvers.fields import mutation
from schema.common import UserError, raw_id
from schema.datasets import Dataset
from schema.jobs import Job
from schema.profiles import ProfileDatasetInput
from schema.domain import GraphQLDomain


@strawberry.type
class ProfileDatasetPayload:
    dataset: Optional[Dataset] = None
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ProfilesMutation:
    @mutation(description="Profile a READY dataset in a PROFILE job; the result is stored on the dataset")
    async def profile_dataset(self, info: strawberry.Info, input: ProfileDatasetInput) -> ProfileDatasetPayload:
        ctx: Context = info.context
        async with ctx.session() as session:
            dataset, job = await profiles.start_profile(
                session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=raw_id(input.dataset_id, "Dataset"),
                data_dir=ctx.settings.resolved_data_dir, plots=input.plots, bins=input.bins)
        return ProfileDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="profiles", mutation=ProfilesMutation)
