"""Reading the registry: registered models, their versions, aliases and history, and what a reference names.

The writes (registering, moving aliases) are services/registry/service.py's, which also exports these."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import conflict
from services.pagination import Listing
from services.registry import RegistryEventKind
from services.registry.names import ModelReference, check_alias
from services.storage.lookup import owned
from services.storage.tables import Model, ModelAlias, ModelVersion, RegisteredModel, RegistryEvent


async def get_registered_model(session: AsyncSession, *, owner_id: str, name: str) -> RegisteredModel | None:
    return (
        await session.exec(
            select(RegisteredModel).where(RegisteredModel.owner_id == owner_id, RegisteredModel.name == name)
        )
    ).first()


list_registered_models = Listing(RegisteredModel, "owner_id")
# Newest first: versions are made in number order, so creation order is number order.
list_versions = Listing(ModelVersion, "registered_model_id")


async def get_version(session: AsyncSession, *, registered_model_id: str, version: int) -> ModelVersion | None:
    return (
        await session.exec(
            select(ModelVersion).where(
                ModelVersion.registered_model_id == registered_model_id, ModelVersion.version == version
            )
        )
    ).first()


async def aliases_of(session: AsyncSession, *, registered_model_id: str) -> list[ModelAlias]:
    return list(
        (
            await session.exec(
                select(ModelAlias)
                .where(ModelAlias.registered_model_id == registered_model_id)
                .order_by(col(ModelAlias.alias))
            )
        ).all()
    )


list_events = Listing(RegistryEvent, "registered_model_id", "alias")


async def get_event(session: AsyncSession, *, owner_id: str, event_id: str) -> RegistryEvent | None:
    return await owned(session, RegistryEvent, owner_id=owner_id, row_id=event_id)


async def alias_at(session: AsyncSession, *, registered_model_id: str, alias: str, at: datetime) -> int | None:
    """The version `alias` pointed to at instant `at` (None: not set then). A time without a zone is UTC."""
    check_alias(alias, ["alias"])
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    last = (
        await session.exec(
            select(RegistryEvent)
            .where(
                RegistryEvent.registered_model_id == registered_model_id,
                RegistryEvent.alias == alias,
                col(RegistryEvent.kind).in_([RegistryEventKind.ALIAS_SET, RegistryEventKind.ALIAS_DELETED]),
                col(RegistryEvent.created_at) <= moment,
            )
            .order_by(col(RegistryEvent.created_at).desc(), col(RegistryEvent.id).desc())
            .limit(1)
        )
    ).first()
    return last.to_version if last is not None else None


async def resolve_model(session: AsyncSession, *, owner_id: str, reference: ModelReference) -> Model | None:
    """The model `churn@champion` or `churn/3` names right now, in one statement: a concurrent alias move
    is either wholly before it or wholly after, and nothing is cached across requests, so every replica
    sees a move on its next request."""
    query = (
        select(Model)
        .join(ModelVersion, col(ModelVersion.model_id) == col(Model.id))
        .join(RegisteredModel, col(RegisteredModel.id) == col(ModelVersion.registered_model_id))
        .where(RegisteredModel.owner_id == owner_id, RegisteredModel.name == reference.name, Model.owner_id == owner_id)
    )
    if reference.alias is not None:
        query = query.join(ModelAlias, col(ModelAlias.model_version_id) == col(ModelVersion.id)).where(
            ModelAlias.alias == reference.alias
        )
    else:
        query = query.where(ModelVersion.version == reference.version)
    return (await session.exec(query)).first()


async def refuse_if_aliased(
    session: AsyncSession, *, model_ids: list[str], field: list[str], what: str = "this model"
) -> None:
    """Deleting a model an alias serves would break every caller of that alias: refuse, naming the alias.
    (`what`: the thing being deleted, when it is a dataset whose models would go with it.)"""
    if not model_ids:
        return
    row = (
        await session.exec(
            select(RegisteredModel.name, ModelAlias.alias, ModelAlias.version)
            .join(ModelAlias, col(ModelAlias.registered_model_id) == col(RegisteredModel.id))
            .join(ModelVersion, col(ModelVersion.id) == col(ModelAlias.model_version_id))
            .where(col(ModelVersion.model_id).in_(model_ids))
            .limit(1)
        )
    ).first()
    if row is not None:
        name, alias, version = row
        raise conflict(f"{name}@{alias} points to {what} ({name}/{version}); move or delete the alias first", field)
