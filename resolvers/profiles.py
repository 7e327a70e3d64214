"""Profile the caller's datasets."""

from __future__ import annotations

from resolvers.context import Context
from resolvers.fields import mutation
from schema.common import payload, raw_id
from schema.datasets import Dataset
from schema.domain import GraphQLDomain
from schema.jobs import Job
from schema.profiles import ProfileDatasetInput
from services.profiling import service as profiles


@payload
class ProfileDatasetPayload:
    dataset: Dataset | None = None
    job: Job | None = None


class ProfilesMutation:
    @mutation(description="Profile a READY dataset in a PROFILE job; the result is stored on the dataset")
    async def profile_dataset(self, ctx: Context, input: ProfileDatasetInput) -> ProfileDatasetPayload:
        dataset, job = await ctx.with_jobs(
            profiles.start_profile,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            plots=input.plots,
            bins=input.bins,
        )
        return ProfileDatasetPayload(dataset=Dataset.from_row(dataset), job=Job.from_row(job))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="profiles", mutation=ProfilesMutation)
