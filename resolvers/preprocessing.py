"""Derive a cleaned version of the caller's dataset."""

from __future__ import annotations

import strawberry

from resolvers.context import Context
from resolvers.fields import mutation
from schema.common import payload, raw_id
from schema.datasets import Dataset
from schema.domain import GraphQLDomain
from schema.jobs import Job
from schema.preprocessing import PreprocessDatasetInput, step_to_params
from services.preprocessing import service as preprocessing


@payload
class PreprocessDatasetPayload:
    dataset: Dataset | None = strawberry.field(default=None, description="The new version")
    job: Job | None = None


class PreprocessingMutation:
    @mutation(
        description="Derive a new dataset version by running the steps in a PREPROCESS job; the "
        "source is never changed. Bad steps are refused before anything is created."
    )
    async def preprocess_dataset(self, ctx: Context, input: PreprocessDatasetInput) -> PreprocessDatasetPayload:
        version, job = await ctx.with_jobs(
            preprocessing.start_preprocess,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            steps=[step_to_params(step) for step in input.steps],
            name=input.name,
        )
        return PreprocessDatasetPayload(dataset=Dataset.from_row(version), job=Job.from_row(job))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="preprocessing", mutation=PreprocessingMutation)
