"""Registry operations: register a model under a name, move and delete aliases, read the history, export by
reference, and watch registry events."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from resolvers.context import Context
from resolvers.fields import mutation, owned_connection, query
from resolvers.permissions import IsAuthenticated
from schema.common import field_error, raw_id
from schema.domain import GraphQLDomain
from schema.models import Model, export_link
from schema.registry import (
    DeleteModelAliasInput,
    ExportModelInput,
    ExportModelPayload,
    ModelAlias,
    ModelAliasPayload,
    ModelVersion,
    RegisteredModel,
    RegisteredModelConnection,
    RegisterModelInput,
    RegisterModelPayload,
    RegistryEvent,
    SetModelAliasInput,
)
from services.errors import ServiceError, invalid, not_found
from services.modeling import service as models
from services.registry import service as registry
from services.registry.names import ModelReference, parse_reference

T = TypeVar("T")


def model_argument(model: str, *, field: str = "modelId") -> tuple[str | None, ModelReference | None]:
    """(raw model id, None) or (None, reference): `model` is a Model id, 'name@alias' or 'name/version'."""
    decoded = raw_id(model, "Model")
    if decoded:
        return decoded, None
    reference = parse_reference(model)
    if reference is None:
        if "@" in model or "/" in model:
            raise invalid(f"{model!r} is neither 'name@alias' nor 'name/version' (nor a model id)", [field])
        return None, None  # an id that is not a Model's: simply not found, as before
    return None, reference


async def _as_owner(ctx: Context, change: Callable[..., Awaitable[T]], /, **arguments: Any) -> T:
    """A registry change in a session of its own, made as the caller (history names them), announced on the bus."""
    async with ctx.session() as session:
        return await change(session, owner=ctx.signed_in, bus=ctx.app.bus, **arguments)


class RegistryQuery:
    registered_models = owned_connection(
        registry.list_registered_models,
        RegisteredModelConnection,
        RegisteredModel.from_row,
        description="The caller's registered models, newest first",
    )

    @query(description="One of the caller's registered models by name (names are per user)")
    async def registered_model(self, ctx: Context, name: str) -> RegisteredModel | None:
        row = await ctx.owned(registry.get_registered_model, name=name)
        return RegisteredModel.from_row(row) if row else None


class RegistryMutation:
    @mutation(description="Register one of your READY models as the next version (1, 2, 3 ...) of `name`")
    async def register_model(self, ctx: Context, input: RegisterModelInput) -> RegisterModelPayload:
        done = await _as_owner(
            ctx,
            registry.register_model,
            model_id=raw_id(input.model_id, "Model"),
            name=input.name,
            description=input.description,
            tags=input.tags,
            allow_signature_change=bool(input.allow_signature_change),
            comment=input.comment,
        )
        return RegisterModelPayload(
            registered_model=RegisteredModel.from_row(done.registered_model),
            version=ModelVersion.from_row(done.version, input.name, []),
        )

    @mutation(description="Point an alias at a version (moving it if it pointed elsewhere); recorded in history")
    async def set_model_alias(self, ctx: Context, input: SetModelAliasInput) -> ModelAliasPayload:
        done = await _as_owner(
            ctx, registry.set_alias, name=input.name, alias=input.alias, version=input.version, comment=input.comment
        )
        assert done.alias is not None
        return ModelAliasPayload(
            registered_model=RegisteredModel.from_row(done.registered_model),
            alias=ModelAlias.from_row(done.alias, input.name),
            event=RegistryEvent.from_row(done.event, input.name),
        )

    @mutation(description="Remove an alias; predicting by it fails from then on. Recorded in history")
    async def delete_model_alias(self, ctx: Context, input: DeleteModelAliasInput) -> ModelAliasPayload:
        done = await _as_owner(ctx, registry.delete_alias, name=input.name, alias=input.alias, comment=input.comment)
        return ModelAliasPayload(
            registered_model=RegisteredModel.from_row(done.registered_model),
            event=RegistryEvent.from_row(done.event, input.name),
        )

    @mutation(
        description="A signed, expiring download link of the model a reference names now "
        "('churn@champion', 'churn/3' or a model id)"
    )
    async def export_model(self, info: strawberry.Info, input: ExportModelInput) -> ExportModelPayload:
        ctx: Context = info.context
        model_id, reference = model_argument(input.model, field="model")
        row = await ctx.owned(models.find_model, model_id=model_id, reference=reference)
        if row is None:
            raise not_found("Model", ["model"])
        return ExportModelPayload(model=Model.from_row(row), url=await export_link(info, row, input.format))


class RegistrySubscription:
    @strawberry.subscription(
        permission_classes=[IsAuthenticated],
        description="Registrations and alias moves of the caller's registered models as they "
        "happen (from any replica); `name` narrows to one",
    )
    async def registry_events(
        self, info: strawberry.Info, name: str | None = None
    ) -> AsyncGenerator[RegistryEvent, None]:
        ctx: Context = info.context
        try:
            with ctx.app.bus.subscribe(registry.registry_channel(ctx.user_id)) as live:
                while True:
                    delivery = await live.get()
                    if delivery is None:  # the server is shutting down
                        return
                    message = delivery.message
                    if name is not None and message.get("name") != name:
                        continue
                    row = await ctx.owned(registry.get_event, event_id=message["event_id"])
                    if row is not None:
                        yield RegistryEvent.from_row(row, message["name"])
        except ServiceError as exc:
            raise field_error(exc) from exc


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="registry", query=RegistryQuery, mutation=RegistryMutation, subscription=RegistrySubscription
)
