"""Check suites of the caller: draft one from a profile, save and edit it, validate datasets with it."""

from __future__ import annotations

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, owned_node, query
from resolvers.loaders import Loaders
from schema.checks import (
    Check,
    CheckSuite,
    CheckSuiteConnection,
    CheckSuiteDraft,
    CheckSuitePayload,
    CreateCheckSuiteInput,
    UpdateCheckSuiteInput,
    ValidateDatasetInput,
    ValidateDatasetPayload,
    Validation,
    ValidationConnection,
)
from schema.common import raw_id
from schema.config_shapes import given_checks
from schema.datasets import Dataset, DeleteInput, DeletePayload
from schema.domain import GraphQLDomain
from schema.jobs import Job
from services.checks import service
from services.storage.tables import CheckSuite as CheckSuiteRow


def _dataset_id(value: strawberry.ID | None) -> str | None:
    return raw_id(value, "Dataset") or "" if value is not None else None


class ChecksQuery:
    @query(
        description="A draft check suite derived from the dataset's profile (a CONFLICT error until the dataset "
        "is profiled). Nothing is saved: edit the checks and pass them to createCheckSuite"
    )
    async def suggest_checks(self, ctx: Context, dataset_id: strawberry.ID) -> CheckSuiteDraft:
        dataset, checks = await ctx.owned(
            service.suggest, dataset_id=_dataset_id(dataset_id), data_dir=ctx.settings.resolved_data_dir
        )
        return CheckSuiteDraft(dataset=Dataset.from_row(dataset), checks=[Check.from_model(c) for c in checks])

    check_suite = owned_node(service.get_suite, CheckSuite, "suite_id", description="One of the caller's check suites")

    @query(description="The caller's check suites, newest first; `datasetId` narrows to one reference dataset")
    async def check_suites(
        self,
        ctx: Context,
        dataset_id: strawberry.ID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> CheckSuiteConnection:
        page = await ctx.owned(service.list_suites, dataset_id=_dataset_id(dataset_id), **ctx.page(first, after))
        return CheckSuiteConnection.from_page(page, CheckSuite.from_row)

    validation = owned_node(
        service.get_validation, Validation, "validation_id", description="One of the caller's validations"
    )

    @query(description="The caller's validations, newest first; narrowed to a dataset and/or a suite if given")
    async def validations(
        self,
        ctx: Context,
        dataset_id: strawberry.ID | None = None,
        suite_id: strawberry.ID | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> ValidationConnection:
        page = await ctx.owned(
            service.list_validations,
            dataset_id=_dataset_id(dataset_id),
            suite_id=(raw_id(suite_id, "CheckSuite") or "") if suite_id is not None else None,
            **ctx.page(first, after),
        )
        return ValidationConnection.from_page(page, Validation.from_row)


class ChecksMutation:
    @mutation(
        description="Save a check suite for a READY dataset (its reference); every column named must be one "
        "of the dataset's"
    )
    async def create_check_suite(self, ctx: Context, input: CreateCheckSuiteInput) -> CheckSuitePayload:
        row = await ctx.owned(
            service.create_suite,
            dataset_id=_dataset_id(input.dataset_id),
            name=input.name,
            checks=given_checks(input.checks) or [],
        )
        return CheckSuitePayload(suite=CheckSuite.from_row(row))

    @mutation(description="Rename a suite and/or replace its checks; past validations keep the checks they ran")
    async def update_check_suite(self, ctx: Context, input: UpdateCheckSuiteInput) -> CheckSuitePayload:
        row = await ctx.owned(
            service.update_suite,
            suite_id=raw_id(input.id, "CheckSuite"),
            name=input.name,
            checks=given_checks(input.checks),
        )
        return CheckSuitePayload(suite=CheckSuite.from_row(row))

    @mutation(description="Delete a suite; its validations stay (with the checks they ran)")
    async def delete_check_suite(self, ctx: Context, input: DeleteInput) -> DeletePayload:
        await ctx.owned(service.delete_suite, suite_id=raw_id(input.id, "CheckSuite"))
        return DeletePayload(deleted_id=input.id)

    @mutation(
        description="Run a suite on a dataset in a VALIDATE job (live log as every job); the validation "
        "stores a result per check and the verdict"
    )
    async def validate_dataset(self, ctx: Context, input: ValidateDatasetInput) -> ValidateDatasetPayload:
        validation, job = await ctx.with_jobs(
            service.start_validation,
            dataset_id=_dataset_id(input.dataset_id),
            suite_id=raw_id(input.suite_id, "CheckSuite") or "",
        )
        return ValidateDatasetPayload(validation=Validation.from_row(validation), job=Job.from_row(job))


def _check_suite(loaders: Loaders) -> DataLoader[str | None, CheckSuiteRow | None]:
    return loaders.by_id(CheckSuiteRow)


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="checks", query=ChecksQuery, mutation=ChecksMutation, loaders={"check_suite": _check_suite}
)
