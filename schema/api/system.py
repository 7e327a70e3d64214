"""Health, node lookup and admin facts."""
from __future__ import annotations

import strawberry

from resolvers import analysis as analysis_resolvers
from resolvers import datasets as dataset_resolvers
from resolvers import jobs as job_resolvers
from resolvers import models as model_resolvers
from resolvers import pipelines as pipeline_resolvers
from resolvers import system as system_resolvers
from resolvers.permissions import IsAdmin, IsAuthenticated
from services.system import redacted_url

from schema.common import Node, from_global_id, to_global_id
from schema.job_cluster import LiveWorker, QueueDepth
from schema.datasets import Dataset
from schema.jobs import Job
from schema.models import Model
from schema.pipelines import Pipeline, PipelineRun
from schema.reports import report_type
from schema.database import DatabaseInfo, DatabasePool, RedisInfo
from schema.system import Health, SystemInfo
from schema.users import User


def database_info(report: system_resolvers.SystemReport) -> DatabaseInfo:
    facts = report.database
    pool = DatabasePool(**vars(facts.pool)) if facts.pool else None
    return DatabaseInfo(engine=facts.engine, server_version=facts.server_version, size_bytes=facts.size_bytes,
                        pool=pool, revision=report.revision, head_revision=report.head_revision)


def redis_info(report: system_resolvers.SystemReport, redis_url: str | None) -> RedisInfo | None:
    if report.redis is None or redis_url is None:
        return None
    return RedisInfo(url=redacted_url(redis_url), **vars(report.redis))


@strawberry.type
class SystemQuery:
    @strawberry.field(description="Open to everyone, for load balancers and dashboards")
    async def health(self, info: strawberry.Info) -> Health:
        report = await system_resolvers.health(info.context.app)
        return Health(status=report.status, version=report.version, time=report.time,
                      active_jobs=report.active_jobs, database=report.database, redis=report.redis)

    @strawberry.field(permission_classes=[IsAuthenticated, IsAdmin], description="ADMIN only")
    async def system(self, info: strawberry.Info) -> SystemInfo | None:
        report = await system_resolvers.system_info(info.context)
        return SystemInfo(uptime_seconds=report.uptime_seconds, active_jobs=[Job.from_row(j) for j in report.active_jobs],
                          queued_jobs=report.queued_jobs, workers=report.workers, database_url=report.database_url,
                          database_size_bytes=report.database_size_bytes,
                          data_dir_size_bytes=report.data_dir_size_bytes, counts=report.counts,
                          database=database_info(report), redis=redis_info(report, info.context.settings.redis_url),
                          executor=report.executor, queues=[QueueDepth(**q) for q in report.queues],
                          live_workers=[LiveWorker(name=w["name"], queues=w["queues"], concurrency=w["concurrency"],
                                                   running_job_ids=[to_global_id("Job", j) for j in w["running"]])
                                        for w in report.live_workers])

    @strawberry.field(permission_classes=[IsAuthenticated], description="Any object of the caller's by global id")
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        decoded = from_global_id(id)
        if decoded is None:
            return None
        type_name, object_id = decoded
        context = info.context
        if type_name == "Dataset":
            row = await dataset_resolvers.get(context, object_id)
            return Dataset.from_row(row) if row else None
        if type_name == "Job":
            row = await job_resolvers.get(context, object_id)
            return Job.from_row(row) if row else None
        if type_name == "Model":
            row = await model_resolvers.get(context, object_id)
            return Model.from_row(row) if row else None
        if type_name == "Pipeline":
            row = await pipeline_resolvers.get(context, object_id)
            return Pipeline.from_row(row) if row else None
        if type_name == "PipelineRun":
            row = await pipeline_resolvers.get_run(context, object_id)
            return PipelineRun.from_row(row) if row else None
        if type_name == "Report":
            row = await analysis_resolvers.get(context, object_id)
            return report_type(info, row) if row else None
        if type_name == "User" and object_id == context.user_id:
            return User.from_row(context.user)
        return None
