"""pipeline configs stored once, typed; header values in pipeline.secrets

Before: `config` held each part as a one-key object ({"source": {"http": {...}}}) in Python names,
header values inside, and (since some point) `given`: the same config again in the client's GraphQL
shape. After: `config` is the typed config's dump (services.pipelines.config: parts tagged with
`kind`, Python names), without `given` and without header values; those move to `pipeline.secrets`
({kind: {header: value}}). A run's `config` is its snapshot: the same dump, header values masked. A
PIPELINE job's params carry the whole config (header values included) in the new shape, so a job
queued before the upgrade still runs after it.

Written against plain JSON, not the app's models: this revision must keep meaning what it means
when those models change.

Create Date: 2026-12-02 06:00:00
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "8d4c2a7e1f35"
down_revision = "7b2e41f0a9c3"

WEB_KINDS = ("http", "scrape")
MASK = "•" * 8


def _masked(value: Any) -> str:
    text = str(value)
    return MASK + text[-4:] if len(text) > 8 else MASK


def _tagged(part: dict[str, Any]) -> dict[str, Any]:
    """{"http": {...}} -> {"kind": "http", ...}, unset (None) fields left out, as the typed dump leaves them."""
    if "kind" in part or len(part) != 1:
        return part  # already the new shape
    ((kind, spec),) = part.items()
    spec = {key: value for key, value in (spec or {}).items() if value is not None}
    if kind == "sqlite" and not spec.get("mode"):
        spec.pop("mode", None)  # "" ran as replace: now the default says so
    if kind == "http" and not spec.get("method"):
        spec.pop("method", None)
    return {"kind": kind, **spec}


def _new_config(old: dict[str, Any]) -> dict[str, Any]:
    """The stored parts re-shaped, whole (header values still in), `given` dropped: it said nothing
    the stored form did not (the schema rebuilt it for rows without one)."""
    if not old or "source" not in old:
        return old
    new = {
        "source": _tagged(dict(old["source"])),
        "steps": list(old.get("steps") or []),
        "sink": _tagged(dict(old["sink"])),
    }
    if old.get("checks") is not None:
        new["checks"] = [{key: value for key, value in check.items() if value is not None} for check in old["checks"]]
    return new


def _old_config(new: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    if not new or "source" not in new or "kind" not in new["source"]:
        return new
    source, sink = dict(new["source"]), dict(new["sink"])
    source_kind, sink_kind = source.pop("kind"), sink.pop("kind")
    if headers is not None:
        source["headers"] = headers
    old = {"source": {source_kind: source}, "steps": new.get("steps") or [], "sink": {sink_kind: sink}}
    if new.get("checks") is not None:
        old["checks"] = new["checks"]
    return old


def _split_headers(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    source = config.get("source") or {}
    if source.get("kind") not in WEB_KINDS or source.get("headers") is None:
        return config, {}
    headers = source["headers"]
    return {**config, "source": {k: v for k, v in source.items() if k != "headers"}}, {source["kind"]: headers}


def _masked_config(config: dict[str, Any]) -> dict[str, Any]:
    source = config.get("source") or {}
    if source.get("kind") not in WEB_KINDS or not isinstance(source.get("headers"), dict):
        return config
    return {**config, "source": {**source, "headers": {k: _masked(v) for k, v in source["headers"].items()}}}


pipeline = sa.table("pipeline", sa.column("id", sa.String), sa.column("config", sa.JSON), sa.column("secrets", sa.JSON))
pipeline_run = sa.table("pipeline_run", sa.column("id", sa.String), sa.column("config", sa.JSON))
job = sa.table("job", sa.column("id", sa.String), sa.column("kind", sa.String), sa.column("params", sa.JSON))


def _convert_queued_jobs(connection: sa.Connection, convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A PIPELINE job's params carry its whole config: converted like the pipeline's own, both ways."""
    for row_id, params in connection.execute(sa.select(job.c.id, job.c.params).where(job.c.kind == "PIPELINE")).all():
        if isinstance((params or {}).get("config"), dict):
            connection.execute(
                job.update().where(job.c.id == row_id).values(params={**params, "config": convert(params["config"])})
            )


def upgrade() -> None:
    with op.batch_alter_table("pipeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secrets", sa.JSON(), nullable=False, server_default="{}"))
    connection = op.get_bind()
    for row_id, config in connection.execute(sa.select(pipeline.c.id, pipeline.c.config)).all():
        stored, secrets = _split_headers(_new_config(config))
        connection.execute(pipeline.update().where(pipeline.c.id == row_id).values(config=stored, secrets=secrets))
    for row_id, config in connection.execute(sa.select(pipeline_run.c.id, pipeline_run.c.config)).all():
        connection.execute(
            pipeline_run.update().where(pipeline_run.c.id == row_id).values(config=_masked_config(_new_config(config)))
        )
    _convert_queued_jobs(connection, _new_config)


def downgrade() -> None:
    """Back to the one-key parts, header values inside again (a run's stay masked: it never kept them)."""
    connection = op.get_bind()
    for row_id, config, secrets in connection.execute(
        sa.select(pipeline.c.id, pipeline.c.config, pipeline.c.secrets)
    ).all():
        kind = (config or {}).get("source", {}).get("kind")
        connection.execute(
            pipeline.update()
            .where(pipeline.c.id == row_id)
            .values(config=_old_config(config, (secrets or {}).get(kind)))
        )
    for row_id, config in connection.execute(sa.select(pipeline_run.c.id, pipeline_run.c.config)).all():
        connection.execute(pipeline_run.update().where(pipeline_run.c.id == row_id).values(config=_old_config(config)))
    _convert_queued_jobs(connection, _old_config)
    with op.batch_alter_table("pipeline", schema=None) as batch_op:
        batch_op.drop_column("secrets")
