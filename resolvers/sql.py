"""`query(sql)`: read-only SQL over the caller's own datasets; the sandbox and limits live in the service."""

from __future__ import annotations

import asyncio

from resolvers.context import Context
from resolvers.fields import query
from schema.common import to_global_id
from schema.domain import GraphQLDomain
from schema.sql import SqlResult
from services.datasets import sql as sql_service
from services.errors import invalid


class SqlQuery:
    @query(
        description="Run one read-only SELECT over your datasets (each a table by its name or id) with DuckDB. "
        "Files, writes, ATTACH and extensions are refused; the query is stopped after the server's "
        "time limit and returns at most `limit` rows. Errors: PARSE_ERROR, INVALID_INPUT (with "
        "DuckDB's message and position), FORBIDDEN."
    )
    async def query(self, ctx: Context, sql: str, limit: int | None = 100) -> SqlResult:
        settings = ctx.settings
        limit = 100 if limit is None else limit
        if limit < 0:
            raise invalid("`limit` must be 0 or more", ["limit"])
        datasets = await ctx.owned(sql_service.queryable_datasets)
        limits = sql_service.QueryLimits(
            max_rows=min(limit, settings.sql_max_rows),
            timeout_seconds=settings.sql_timeout_seconds,
            memory_mb=settings.sql_memory_mb,
        )
        result = await asyncio.to_thread(
            sql_service.run_query,
            sql=sql,
            datasets=datasets,
            data_dir=settings.resolved_data_dir,
            limits=limits,
            scratch_root=settings.scratch_dir,
            id_alias=lambda raw: to_global_id("Dataset", raw),
        )
        return SqlResult.from_result(result)


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="sql", query=SqlQuery)
