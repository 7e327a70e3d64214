"""Per-request DataLoaders: each nested object field of a page costs one query for the whole page.

Every loader is scoped to the caller's owner_id, so another user's id loads None, as with the `get_*` services.
They do not cache (`cache=False`): a subscription's context lives as long as its socket, and a cached row would
go stale; batching within one execution step is what saves the queries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from services.analysis.service import reports_for_jobs, reports_of_datasets
from services.datasets.service import children_of
from services.modeling.service import models_for_jobs
from services.pipelines.service import last_runs, stats_of_pipelines
from services.storage.lookup import owned_by_ids
from services.storage.tables import CheckSuite, Dataset, Job, Model, PipelineRun, Report

if TYPE_CHECKING:
    from resolvers.context import Context


class Loaders:
    def __init__(self, context: Context) -> None:
        self.context = context

    def __getattr__(self, name: str) -> DataLoader:
        """A loader a domain declares (GraphQLDomain.loaders), made on first use in this request."""
        from schema.root import LOADERS  # assembled from every domain's declaration

        make = LOADERS.get(name)
        if make is None:
            raise AttributeError(f"no loader {name!r}")
        loader = self.__dict__[name] = make(self)
        return loader

    def batch(
        self, load_many: Callable[[Any, list], Awaitable[dict[str, Any]]], key: Callable[[Any], str]
    ) -> DataLoader:
        async def load(keys: Sequence[Any]) -> list[Any]:
            async with self.context.session() as session:
                found = await load_many(session, list(keys))
            return [found.get(key(k)) for k in keys]

        return DataLoader(load_fn=load, cache=False)

    def _by_id(self, table: type) -> DataLoader:
        async def load_many(session: Any, ids: list[str | None]) -> dict[str, Any]:
            return await owned_by_ids(session, table, owner_id=self.context.user_id, ids=ids)

        return self.batch(load_many, key=lambda row_id: row_id)

    @cached_property
    def dataset(self) -> DataLoader[str | None, Dataset | None]:
        return self._by_id(Dataset)

    @cached_property
    def job(self) -> DataLoader[str | None, Job | None]:
        return self._by_id(Job)

    @cached_property
    def model(self) -> DataLoader[str | None, Model | None]:
        return self._by_id(Model)

    @cached_property
    def pipeline_run(self) -> DataLoader[str | None, PipelineRun | None]:
        return self._by_id(PipelineRun)

    @cached_property
    def report(self) -> DataLoader[str | None, Report | None]:
        return self._by_id(Report)

    @cached_property
    def model_for_job(self) -> DataLoader[Job, Model | None]:
        async def load_many(session: Any, jobs: list[Job]) -> dict[str, Model]:
            return await models_for_jobs(session, owner_id=self.context.user_id, jobs=jobs)

        return self.batch(load_many, key=lambda job: job.id)

    @cached_property
    def report_for_job(self) -> DataLoader[Job, Report | None]:
        async def load_many(session: Any, jobs: list[Job]) -> dict[str, Report]:
            return await reports_for_jobs(
                session, owner_id=self.context.user_id, jobs=jobs, data_dir=self.context.settings.resolved_data_dir
            )

        return self.batch(load_many, key=lambda job: job.id)

    def _last_runs(self, *, succeeded: bool) -> DataLoader[str, PipelineRun | None]:
        async def load_many(session: Any, pipeline_ids: list[str]) -> dict[str, PipelineRun]:
            return await last_runs(
                session, owner_id=self.context.user_id, pipeline_ids=pipeline_ids, succeeded=succeeded
            )

        return self.batch(load_many, key=lambda pipeline_id: pipeline_id)

    @cached_property
    def last_run(self) -> DataLoader[str, PipelineRun | None]:
        """By pipeline id: its newest run."""
        return self._last_runs(succeeded=False)

    @cached_property
    def last_succeeded_run(self) -> DataLoader[str, PipelineRun | None]:
        """By pipeline id: its newest successful run (its output's columns and data)."""
        return self._last_runs(succeeded=True)

    @cached_property
    def pipeline_stats(self) -> DataLoader[str, dict[str, Any]]:
        async def load_many(session: Any, pipeline_ids: list[str]) -> dict[str, dict[str, Any]]:
            return await stats_of_pipelines(session, owner_id=self.context.user_id, pipeline_ids=pipeline_ids)

        return self.batch(load_many, key=lambda pipeline_id: pipeline_id)

    @cached_property
    def dataset_children(self) -> DataLoader[str, list[Dataset]]:
        """By dataset id: the versions derived from it."""

        async def load_many(session: Any, dataset_ids: list[str]) -> dict[str, list[Dataset]]:
            return await children_of(session, owner_id=self.context.user_id, dataset_ids=dataset_ids)

        return self.batch(load_many, key=lambda dataset_id: dataset_id)

    @cached_property
    def dataset_reports(self) -> DataLoader[str, list[Report]]:
        """By dataset id: its finished reports, newest first."""

        async def load_many(session: Any, dataset_ids: list[str]) -> dict[str, list[Report]]:
            return await reports_of_datasets(
                session,
                owner_id=self.context.user_id,
                dataset_ids=dataset_ids,
                data_dir=self.context.settings.resolved_data_dir,
            )

        return self.batch(load_many, key=lambda dataset_id: dataset_id)

    @cached_property
    def check_suite(self) -> DataLoader[str | None, CheckSuite | None]:
        return self._by_id(CheckSuite)
