"""Registering models under a name, moving aliases, the history of both, and serving by reference.

Every write starts with a write to the registered model's row (its version counter, or its `updated_at`):
on PostgreSQL that row lock orders concurrent changes to one name, and on SQLite it takes the write lock
before anything is read, so a concurrent writer waits (busy timeout) instead of failing on a stale snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import conflict, not_found
from services.jobs.bus import EventBus
from services.modeling import ModelStatus
from services.pagination import Page, paginate
from services.registry import RegistryEventKind
from services.registry.names import ModelReference, check_alias, check_name, check_tags, check_text, check_version
from services.storage.tables import Model, ModelAlias, ModelVersion, RegisteredModel, RegistryEvent, User, utcnow
from services.webhooks.events import WebhookEvent, api_id, publish

REGISTER_ATTEMPTS = 3  # a first registration of a new name can lose the race to create it once, then it retries


def registry_channel(owner_id: str) -> str:
    """Where alias moves and registrations of one owner's models are published (plain JSON, any replica)."""
    return f"registry:{owner_id}"


@dataclass
class Registration:
    registered_model: RegisteredModel
    version: ModelVersion
    event: RegistryEvent


@dataclass
class AliasChange:
    registered_model: RegisteredModel
    alias: ModelAlias | None
    event: RegistryEvent


def _signature(features: list[dict[str, Any]]) -> dict[str, str]:
    """What a caller must send: column names and their kind (allowed values and ranges may move with new data)."""
    return {f["name"]: f["semantic_type"] for f in features}


def _signature_change(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str | None:
    old, new = _signature(before), _signature(after)
    if old == new:
        return None
    parts = [
        f"added {', '.join(sorted(new.keys() - old.keys()))}" if new.keys() - old.keys() else "",
        f"removed {', '.join(sorted(old.keys() - new.keys()))}" if old.keys() - new.keys() else "",
        ", ".join(f"{n} {old[n]} -> {new[n]}" for n in sorted(old.keys() & new.keys()) if old[n] != new[n]),
    ]
    return "; ".join(p for p in parts if p)


async def _touch(session: AsyncSession, *, owner_id: str, name: str, bump: bool = False) -> tuple[str, int] | None:
    """The first statement of every change: (id, latest version) of the owner's name, bumped when `bump`."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if bump:
        values["latest_version"] = RegisteredModel.latest_version + 1
    row = (
        await session.execute(
            update(RegisteredModel)
            .where(col(RegisteredModel.owner_id) == owner_id, col(RegisteredModel.name) == name)
            .values(**values)
            .returning(col(RegisteredModel.id), col(RegisteredModel.latest_version))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def register_model(
    session: AsyncSession,
    *,
    owner: User,
    model_id: str | None,
    name: str,
    description: str | None = None,
    tags: list[str] | None = None,
    allow_signature_change: bool = False,
    comment: str | None = None,
    bus: EventBus | None = None,
) -> Registration:
    """Version n+1 of `name` (made on first use) for one of the owner's READY models."""
    check_name(name, ["name"])
    check_text(description, ["description"])
    check_text(comment, ["comment"])
    tags = check_tags(tags, ["tags"])
    for attempt in range(REGISTER_ATTEMPTS):
        try:
            registration = await _register_once(
                session,
                owner=owner,
                model_id=model_id,
                name=name,
                description=description,
                tags=tags,
                allow_signature_change=allow_signature_change,
                comment=comment,
            )
            break
        except IntegrityError:  # another request created the name (or took the number) first: count again
            await session.rollback()
            if attempt == REGISTER_ATTEMPTS - 1:
                raise conflict("The name was being registered concurrently; try again", ["name"]) from None
    _publish(bus, registration.event, name)
    return registration


async def _register_once(
    session: AsyncSession,
    *,
    owner: User,
    model_id: str | None,
    name: str,
    description: str | None,
    tags: list[str] | None,
    allow_signature_change: bool,
    comment: str | None,
) -> Registration:
    touched = await _touch(session, owner_id=owner.id, name=name, bump=True)
    if touched is None:
        registered = RegisteredModel(
            owner_id=owner.id, name=name, description=description or "", tags=tags or [], latest_version=1
        )
        session.add(registered)
        await session.flush()  # the unique (owner, name) refuses a concurrent twin here
        number = 1
    else:
        stored = await session.get(RegisteredModel, touched[0], populate_existing=True)
        assert stored is not None
        registered = stored
        number = touched[1]
        if description is not None:
            registered.description = description
        if tags is not None:
            registered.tags = tags
    model = await session.get(Model, model_id) if model_id else None
    if model is None or model.owner_id != owner.id:
        raise not_found("Model", ["modelId"])
    if model.status != ModelStatus.READY:
        raise conflict(f"The model is {model.status}; only a READY model can be registered", ["modelId"])
    signature = (model.details or {}).get("features", [])
    previous = (
        await session.exec(
            select(ModelVersion)
            .where(ModelVersion.registered_model_id == registered.id)
            .order_by(col(ModelVersion.version).desc())
            .limit(1)
        )
    ).first()
    if previous is not None:
        if previous.model_id == model.id:
            raise conflict(f"This model is already {name}/{previous.version}", ["modelId"])
        change = _signature_change(previous.signature, signature)
        if change and not allow_signature_change:
            raise conflict(
                f"The input signature differs from {name}/{previous.version} ({change}); callers of "
                f"{name} would break. Register with allowSignatureChange: true if that is intended",
                ["allowSignatureChange"],
            )
    version = ModelVersion(
        registered_model_id=registered.id,
        owner_id=owner.id,
        version=number,
        model_id=model.id,
        signature=signature,
        created_by_id=owner.id,
        comment=comment,
        allow_signature_change=bool(
            allow_signature_change and previous is not None and _signature_change(previous.signature, signature)
        ),
    )
    event = RegistryEvent(
        registered_model_id=registered.id,
        owner_id=owner.id,
        actor_id=owner.id,
        actor_email=owner.email,
        kind=RegistryEventKind.REGISTERED,
        to_version=number,
        comment=comment,
    )
    session.add_all([version, event])
    await session.commit()
    return Registration(registered, version, event)


async def set_alias(
    session: AsyncSession,
    *,
    owner: User,
    name: str,
    alias: str,
    version: int,
    comment: str | None = None,
    bus: EventBus | None = None,
) -> AliasChange:
    """Point `alias` of `name` at `version` (wherever it pointed before), and record the move."""
    check_name(name, ["name"])
    check_alias(alias, ["alias"])
    check_version(version, ["version"])
    check_text(comment, ["comment"])
    touched = await _touch(session, owner_id=owner.id, name=name)
    if touched is None:
        raise not_found("Registered model", ["name"])
    target = (
        await session.exec(
            select(ModelVersion).where(ModelVersion.registered_model_id == touched[0], ModelVersion.version == version)
        )
    ).first()
    if target is None:
        raise not_found(f"Version {version} of {name}", ["version"])
    pointer = (
        await session.exec(
            select(ModelAlias).where(ModelAlias.registered_model_id == touched[0], ModelAlias.alias == alias)
        )
    ).first()
    before = pointer.version if pointer else None
    if pointer is None:
        pointer = ModelAlias(registered_model_id=touched[0], alias=alias, model_version_id=target.id, version=version)
    else:
        pointer.model_version_id, pointer.version, pointer.updated_at = target.id, version, utcnow()
    event = RegistryEvent(
        registered_model_id=touched[0],
        owner_id=owner.id,
        actor_id=owner.id,
        actor_email=owner.email,
        kind=RegistryEventKind.ALIAS_SET,
        alias=alias,
        from_version=before,
        to_version=version,
        comment=comment,
    )
    session.add_all([pointer, event])
    try:  # announcing reads the owner's webhooks: that flushes the writes above, which may meet the race below
        await announce_alias(session, event, name)
        await session.commit()
    except IntegrityError:  # the version's model was deleted between our read and this write
        await session.rollback()
        raise conflict(f"Version {version} of {name} was just deleted", ["version"]) from None
    registered = await session.get(RegisteredModel, touched[0])
    assert registered is not None
    _publish(bus, event, name)
    return AliasChange(registered, pointer, event)


async def delete_alias(
    session: AsyncSession,
    *,
    owner: User,
    name: str,
    alias: str,
    comment: str | None = None,
    bus: EventBus | None = None,
) -> AliasChange:
    check_name(name, ["name"])
    check_alias(alias, ["alias"])
    check_text(comment, ["comment"])
    touched = await _touch(session, owner_id=owner.id, name=name)
    if touched is None:
        raise not_found("Registered model", ["name"])
    pointer = (
        await session.exec(
            select(ModelAlias).where(ModelAlias.registered_model_id == touched[0], ModelAlias.alias == alias)
        )
    ).first()
    if pointer is None:
        raise not_found(f"Alias {alias} of {name}", ["alias"])
    event = RegistryEvent(
        registered_model_id=touched[0],
        owner_id=owner.id,
        actor_id=owner.id,
        actor_email=owner.email,
        kind=RegistryEventKind.ALIAS_DELETED,
        alias=alias,
        from_version=pointer.version,
        comment=comment,
    )
    await session.delete(pointer)
    session.add(event)
    await announce_alias(session, event, name)
    await session.commit()
    registered = await session.get(RegisteredModel, touched[0])
    assert registered is not None
    _publish(bus, event, name)
    return AliasChange(registered, None, event)


async def announce_alias(session: AsyncSession, event: RegistryEvent, name: str) -> None:
    """MODEL_ALIAS_MOVED for the owner's webhooks, queued in the transaction that moves (or deletes) the alias."""
    await publish(
        session,
        user_id=event.owner_id,
        event=WebhookEvent.MODEL_ALIAS_MOVED,
        data={
            "name": name,
            "alias": event.alias,
            "reference": f"{name}@{event.alias}",
            "fromVersion": event.from_version,
            "toVersion": event.to_version,
            "comment": event.comment,
            "actorEmail": event.actor_email,
            "eventId": api_id("RegistryEvent", event.id),
        },
    )


def _publish(bus: EventBus | None, event: RegistryEvent, name: str) -> None:
    """After the commit: watchers reload the event by id, so the message carries no state of its own."""
    if bus is not None:
        bus.publish(registry_channel(event.owner_id), {"event_id": event.id, "name": name})


async def get_registered_model(session: AsyncSession, *, owner_id: str, name: str) -> RegisteredModel | None:
    return (
        await session.exec(
            select(RegisteredModel).where(RegisteredModel.owner_id == owner_id, RegisteredModel.name == name)
        )
    ).first()


async def list_registered_models(
    session: AsyncSession, *, owner_id: str, first: int, after: str | None, max_first: int
) -> Page[RegisteredModel]:
    return await paginate(
        session,
        RegisteredModel,
        filters=[col(RegisteredModel.owner_id) == owner_id],
        first=first,
        after=after,
        max_first=max_first,
    )


async def list_versions(
    session: AsyncSession, *, registered_model_id: str, first: int, after: str | None, max_first: int
) -> Page[ModelVersion]:
    """Newest first: versions are made in number order, so creation order is number order."""
    return await paginate(
        session,
        ModelVersion,
        filters=[col(ModelVersion.registered_model_id) == registered_model_id],
        first=first,
        after=after,
        max_first=max_first,
    )


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


async def list_events(
    session: AsyncSession,
    *,
    registered_model_id: str,
    first: int,
    after: str | None,
    max_first: int,
    alias: str | None = None,
) -> Page[RegistryEvent]:
    filters = [col(RegistryEvent.registered_model_id) == registered_model_id]
    if alias is not None:
        filters.append(col(RegistryEvent.alias) == alias)
    return await paginate(session, RegistryEvent, filters=filters, first=first, after=after, max_first=max_first)


async def get_event(session: AsyncSession, *, owner_id: str, event_id: str) -> RegistryEvent | None:
    event = await session.get(RegistryEvent, event_id)
    return event if event is not None and event.owner_id == owner_id else None


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
