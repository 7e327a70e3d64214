"""Monitoring operations: read a served model's windows, set its alerting threshold."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.context import Context
from resolvers.fields import mutation, query
from resolvers.registry import model_argument
from schema.domain import GraphQLDomain
from schema.models import Model
from schema.monitoring import ModelMonitor, MonitorSettings, SetModelMonitorInput, SetModelMonitorPayload
from services.modeling.service import require_model
from services.monitoring import service as monitoring


class MonitoringQuery:
    @query(
        description="What one of the caller's models served, per time window, newest first: counts, the "
        "predictions, and drift of the served inputs against its training data (at most 168 windows)"
    )
    async def model_monitor(
        self, ctx: Context, model_id: strawberry.ID, window: float | None = None, since: datetime | None = None
    ) -> ModelMonitor:
        """`window`: minutes per answered window, a whole multiple of ASSAY_MONITOR_WINDOW_MINUTES (the default);
        `since`: the earliest window (default: the last 24)."""
        model_id_raw, reference = model_argument(model_id)
        report = await ctx.owned(
            monitoring.read_monitor,
            model_id=model_id_raw,
            reference=reference,
            window=window,
            since=since,
            config=ctx.app.monitor_config,
        )
        return ModelMonitor.from_report(report)


class MonitoringMutation:
    @mutation(
        description="Set a model's alerting rule: a closed window whose drift share reaches "
        "`driftShareThreshold` raises an alert (and a DRIFT_ALERT webhook event)"
    )
    async def set_model_monitor(self, ctx: Context, input: SetModelMonitorInput) -> SetModelMonitorPayload:
        model_id, reference = model_argument(input.model_id)
        async with ctx.session() as session:
            row = await monitoring.set_monitor(
                session,
                owner_id=ctx.user_id,
                model_id=model_id,
                reference=reference,
                drift_share_threshold=input.drift_share_threshold,
                method=input.method,
                threshold=input.threshold,
                config=ctx.app.monitor_config,
            )
            model = await require_model(session, owner_id=ctx.user_id, model_id=row.model_id, reference=None)
        return SetModelMonitorPayload(model=Model.from_row(model), settings=MonitorSettings.from_row(row))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(name="monitoring", query=MonitoringQuery, mutation=MonitoringMutation)
