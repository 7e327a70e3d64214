"""Registry types: registered models, their versions and aliases, and the history of registrations and moves."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.common import Connection, SemanticType, ServiceErrors, listed, payload, to_global_id
from schema.conversion import fields_of, loaded, node_fields
from schema.models import Model, ModelFeature, ModelFormat
from services import registry
from services.registry import service as registry_service
from services.storage.tables import ModelAlias as AliasRow
from services.storage.tables import ModelVersion as VersionRow
from services.storage.tables import RegisteredModel as RegisteredRow
from services.storage.tables import RegistryEvent as EventRow

# The services' own enum: a kind they record is one the schema declares.
RegistryEventKind = registry.RegistryEventKind  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(RegistryEventKind, name="RegistryEventKind", description="What happened to a registered model")


@strawberry.type(
    description="Version n of a registered model: one trained model, fixed once registered. "
    "`model` leads on to its metrics, its training dataset version and its job."
)
class ModelVersion:
    id: strawberry.ID
    name: str = strawberry.field(description="The registered model's name")
    version: int
    reference: str = strawberry.field(description="'name/version', usable as predict's `model`")
    aliases: list[str] = strawberry.field(description="The aliases pointing here now")
    allow_signature_change: bool = strawberry.field(
        description="Registered with allowSignatureChange: its input signature differs from the version before"
    )
    comment: str | None
    created_at: datetime
    row: strawberry.Private[VersionRow]

    @classmethod
    def from_row(cls, row: VersionRow, name: str, aliases: list[str]) -> ModelVersion:
        return cls(**node_fields(cls, row, name=name, reference=f"{name}/{row.version}", aliases=aliases))

    @strawberry.field(description="The trained model (null once deleted)")
    async def model(self, info: strawberry.Info) -> Model | None:
        return await loaded(info.context.loaders.model, self.row.model_id, Model.from_row)

    @strawberry.field(description="The input signature as registered")
    def signature(self) -> list[ModelFeature]:
        return [
            ModelFeature(
                name=f["name"],
                semantic_type=SemanticType(f["semantic_type"]),
                required=f["required"],
                allowed_values=f["allowed_values"],
                min=f["min"],
                max=f["max"],
            )
            for f in self.row.signature
        ]


@strawberry.type(description="A movable name for one version of a registered model (champion, staging ...)")
class ModelAlias:
    alias: str
    version: int
    reference: str = strawberry.field(description="'name@alias', usable as predict's `model`")
    updated_at: datetime = strawberry.field(description="When it last moved")

    @classmethod
    def from_row(cls, row: AliasRow, name: str) -> ModelAlias:
        return cls(alias=row.alias, version=row.version, reference=f"{name}@{row.alias}", updated_at=row.updated_at)


@strawberry.type(description="One registration or alias move, recorded for good")
class RegistryEvent:
    id: strawberry.ID
    name: str = strawberry.field(description="The registered model's name")
    kind: RegistryEventKind
    alias: str | None
    from_version: int | None = strawberry.field(description="Where the alias pointed before (null: it was not set)")
    to_version: int | None = strawberry.field(
        description="The version registered, or the alias's new version (null: the alias was deleted)"
    )
    comment: str | None
    actor_email: str | None = strawberry.field(description="Who did it, by their email at the time")
    at: datetime

    @classmethod
    def from_row(cls, row: EventRow, name: str) -> RegistryEvent:
        return cls(
            **fields_of(
                cls,
                row,
                id=to_global_id("RegistryEvent", row.id),
                name=name,
                at=row.created_at,
            )
        )


ModelVersionConnection = Connection[ModelVersion]
RegistryEventConnection = Connection[RegistryEvent]


async def _alias_names(info: strawberry.Info, registered_model_id: str) -> dict[str, list[str]]:
    """By version id, the aliases pointing at it: one query for a whole page of versions."""
    async with info.context.session() as session:
        rows = await registry_service.aliases_of(session, registered_model_id=registered_model_id)
    names: dict[str, list[str]] = {}
    for row in rows:
        names.setdefault(row.model_version_id, []).append(row.alias)
    return names


@strawberry.type(description="A name models are served under, with numbered versions and movable aliases")
class RegisteredModel:
    id: strawberry.ID
    name: str
    description: str
    tags: list[str]
    latest_version: int = strawberry.field(description="The highest version number given so far")
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[RegisteredRow]

    @classmethod
    def from_row(cls, row: RegisteredRow) -> RegisteredModel:
        return cls(**node_fields(cls, row, tags=list(row.tags or [])))

    @strawberry.field(description="Newest first")
    async def versions(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> ModelVersionConnection:
        page = await listed(info, registry_service.list_versions, first, after, registered_model_id=self.row.id)
        aliases = await _alias_names(info, self.row.id)
        return ModelVersionConnection.from_page(
            page, lambda v: ModelVersion.from_row(v, self.name, aliases.get(v.id, []))
        )

    @strawberry.field
    async def version(self, info: strawberry.Info, number: int) -> ModelVersion | None:
        async with info.context.session() as session:
            row = await registry_service.get_version(session, registered_model_id=self.row.id, version=number)
        return (
            ModelVersion.from_row(row, self.name, (await _alias_names(info, self.row.id)).get(row.id, []))
            if row
            else None
        )

    @strawberry.field(description="Where each alias points now")
    async def aliases(self, info: strawberry.Info) -> list[ModelAlias]:
        async with info.context.session() as session:
            rows = await registry_service.aliases_of(session, registered_model_id=self.row.id)
        return [ModelAlias.from_row(row, self.name) for row in rows]

    @strawberry.field(description="Every registration and alias move, newest first; `alias` narrows to one alias")
    async def history(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None, alias: str | None = None
    ) -> RegistryEventConnection:
        page = await listed(
            info, registry_service.list_events, first, after, registered_model_id=self.row.id, alias=alias
        )
        return RegistryEventConnection.from_page(page, lambda e: RegistryEvent.from_row(e, self.name))

    @strawberry.field(
        description="The version `alias` pointed to at `time` (from the recorded history; a time "
        "without a zone is UTC); null if it pointed nowhere then",
        extensions=[ServiceErrors()],
    )
    async def alias_at(self, info: strawberry.Info, alias: str, time: datetime) -> ModelVersion | None:
        async with info.context.session() as session:
            number = await registry_service.alias_at(session, registered_model_id=self.row.id, alias=alias, at=time)
            row = (
                await registry_service.get_version(session, registered_model_id=self.row.id, version=number)
                if number is not None
                else None
            )
        return (
            ModelVersion.from_row(row, self.name, (await _alias_names(info, self.row.id)).get(row.id, []))
            if row
            else None
        )


RegisteredModelConnection = Connection[RegisteredModel]


@strawberry.input
class RegisterModelInput:
    model_id: strawberry.ID
    name: str = strawberry.field(description="Made on first use; letters, digits, '_', '-', '.'")
    description: str | None = strawberry.field(default=None, description="Replaces the name's description if given")
    tags: list[str] | None = strawberry.field(default=None, description="Replace the name's tags if given")
    allow_signature_change: bool | None = strawberry.field(
        default=False, description="Accept an input signature that differs from the previous version's (recorded)"
    )
    comment: str | None = None


@payload
class RegisterModelPayload:
    registered_model: RegisteredModel | None = None
    version: ModelVersion | None = None


@strawberry.input
class SetModelAliasInput:
    name: str
    alias: str = strawberry.field(description="Any name you choose: letters, digits, '_', '-', starting with a letter")
    version: int
    comment: str | None = None


@strawberry.input
class DeleteModelAliasInput:
    name: str
    alias: str
    comment: str | None = None


@payload
class ModelAliasPayload:
    registered_model: RegisteredModel | None = None
    alias: ModelAlias | None = strawberry.field(default=None, description="Null after a delete")
    event: RegistryEvent | None = strawberry.field(default=None, description="The move, as history records it")


@strawberry.input
class ExportModelInput:
    model: str = strawberry.field(description="'churn@champion', 'churn/3' or a model id")
    format: ModelFormat | None = ModelFormat.JOBLIB


@payload
class ExportModelPayload:
    model: Model | None = strawberry.field(default=None, description="The model the reference named at this moment")
    url: str | None = strawberry.field(default=None, description="Signed and expiring, as Model.exportUrl")
