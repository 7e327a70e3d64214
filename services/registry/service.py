"""Registering models under a name, moving aliases, the history of both, and serving by reference.

Every write starts with a write to the registered model's row (its version counter, or its `updated_at`):
on PostgreSQL that row lock orders concurrent changes to one name, and on SQLite it takes the write lock
before anything is read, so a concurrent writer waits (busy timeout) instead of failing on a stale snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import conflict, not_found
from services.jobs.bus import EventBus
from services.modeling import ModelStatus
from services.registry import RegistryEventKind
from services.registry.names import check_alias, check_name, check_tags, check_text, check_version
from services.registry.queries import (
    alias_at,
    aliases_of,
    get_event,
    get_registered_model,
    get_version,
    list_events,
    list_registered_models,
    list_versions,
    refuse_if_aliased,
    resolve_model,
)
from services.storage.tables import Model, ModelAlias, ModelVersion, RegisteredModel, RegistryEvent, User, utcnow
from services.webhooks.events import WebhookEvent, api_id, publish

# The reads live in services/registry/queries.py; callers keep finding them here too.
__all__ = [
    "AliasChange",
    "Registration",
    "alias_at",
    "aliases_of",
    "announce_alias",
    "delete_alias",
    "get_event",
    "get_registered_model",
    "get_version",
    "list_events",
    "list_registered_models",
    "list_versions",
    "refuse_if_aliased",
    "register_model",
    "registry_channel",
    "resolve_model",
    "set_alias",
]

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
    event = _event(owner, registered.id, RegistryEventKind.REGISTERED, comment, to_version=number)
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
    check_version(version, ["version"])
    registered_id, pointer = await _find_alias(session, owner=owner, name=name, alias=alias, comment=comment)
    target = await get_version(session, registered_model_id=registered_id, version=version)
    if target is None:
        raise not_found(f"Version {version} of {name}", ["version"])
    before = pointer.version if pointer else None
    if pointer is None:
        pointer = ModelAlias(
            registered_model_id=registered_id, alias=alias, model_version_id=target.id, version=version
        )
    else:
        pointer.model_version_id, pointer.version, pointer.updated_at = target.id, version, utcnow()
    event = _alias_event(owner, registered_id, alias, before, version, comment)
    session.add_all([pointer, event])
    try:  # announcing reads the owner's webhooks: that flushes the writes above, which may meet the race below
        await announce_alias(session, event, name)
        await session.commit()
    except IntegrityError:  # the version's model was deleted between our read and this write
        await session.rollback()
        raise conflict(f"Version {version} of {name} was just deleted", ["version"]) from None
    return AliasChange(await _published(session, bus, event, name), pointer, event)


async def delete_alias(
    session: AsyncSession,
    *,
    owner: User,
    name: str,
    alias: str,
    comment: str | None = None,
    bus: EventBus | None = None,
) -> AliasChange:
    registered_id, pointer = await _find_alias(session, owner=owner, name=name, alias=alias, comment=comment)
    if pointer is None:
        raise not_found(f"Alias {alias} of {name}", ["alias"])
    event = _alias_event(owner, registered_id, alias, pointer.version, None, comment)
    await session.delete(pointer)
    session.add(event)
    await announce_alias(session, event, name)
    await session.commit()
    return AliasChange(await _published(session, bus, event, name), None, event)


async def _find_alias(
    session: AsyncSession, *, owner: User, name: str, alias: str, comment: str | None
) -> tuple[str, ModelAlias | None]:
    """The checks an alias change starts with; then the registered model's id (marked touched: see _touch) and
    where the alias points now (None: nowhere yet)."""
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
    return touched[0], pointer


def _event(
    owner: User, registered_id: str, kind: RegistryEventKind, comment: str | None, **change: Any
) -> RegistryEvent:
    """What the owner did to a registered model, for its history. The actor's email is copied so the history
    still names them later."""
    return RegistryEvent(
        registered_model_id=registered_id,
        owner_id=owner.id,
        actor_id=owner.id,
        actor_email=owner.email,
        kind=kind,
        comment=comment,
        **change,
    )


def _alias_event(
    owner: User, registered_id: str, alias: str, before: int | None, after: int | None, comment: str | None
) -> RegistryEvent:
    """The owner moved `alias` from version `before` to `after` (None: deleted it)."""
    kind = RegistryEventKind.ALIAS_SET if after is not None else RegistryEventKind.ALIAS_DELETED
    return _event(owner, registered_id, kind, comment, alias=alias, from_version=before, to_version=after)


async def _published(session: AsyncSession, bus: EventBus | None, event: RegistryEvent, name: str) -> RegisteredModel:
    """After an alias change is committed: tell the watchers, and return the registered model as it now stands."""
    registered = await session.get(RegisteredModel, event.registered_model_id)
    assert registered is not None
    _publish(bus, event, name)
    return registered


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
