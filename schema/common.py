"""Shared GraphQL pieces: the Node interface, global ids, errors, page info."""

from __future__ import annotations

import base64
import copy
import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, dataclass_transform, get_type_hints, overload

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from services import errors, files
from services.errors import ServiceError
from services.ingest import types

# The services' own enum, so a code a service raises is one the schema declares.
ErrorCode = errors.ErrorCode  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(ErrorCode, name="ErrorCode", description="Why an operation failed; shared by every payload's `errors`.")


SemanticType = types.SemanticType  # the services' enum, made a GraphQL enum in place (as ErrorCode)
strawberry.enum(SemanticType, name="SemanticType", description="What a column means, beyond how it is stored.")


@strawberry.type(description="A problem the caller can fix. `field` is the path to the input at fault.")
class UserError:
    code: ErrorCode
    message: str
    field: list[str] | None = None


PayloadType = TypeVar("PayloadType", bound=type)


def _append_field(cls: type, name: str, annotation: Any, default: Any = dataclasses.MISSING) -> None:
    """Declare a field on `cls` after those it declares itself (its annotations keep their order)."""
    cls.__annotations__[name] = annotation
    if default is not dataclasses.MISSING:
        setattr(cls, name, copy.copy(default))  # a field object of its own: strawberry fills in its owner


InputType = TypeVar("InputType", bound=type)


def fields_last(cls: InputType) -> InputType:
    """Fields several inputs end with, declared once on a plain (not strawberry) base class, placed after the
    input's own fields: a strawberry base would put them first and reorder the schema. Apply under
    @strawberry.input; the base also tells readers and type checkers what the input carries."""
    own = set(cls.__annotations__)
    for base in (b for b in cls.__bases__ if not hasattr(b, "__strawberry_definition__")):
        hints = get_type_hints(base, include_extras=True)
        for name in inspect.get_annotations(base):
            if name not in own:
                _append_field(cls, name, hints[name], base.__dict__.get(name, dataclasses.MISSING))
    return cls


@overload
@dataclass_transform(kw_only_default=True, field_specifiers=(strawberry.field, StrawberryField))
def payload(cls: PayloadType, /) -> PayloadType: ...


@overload
def payload(*, description: str | None = None) -> Callable[[PayloadType], PayloadType]: ...


def payload(cls: PayloadType | None = None, /, *, description: str | None = None) -> Any:
    """A mutation's answer type (`@payload`): its own fields, then `errors: [UserError!]!`, empty on success and
    filled by ServiceErrors on failure. The one mutation shape, declared here rather than in every payload."""

    def make(cls: PayloadType) -> PayloadType:
        _append_field(cls, "errors", list[UserError], strawberry.field(default_factory=list))
        return strawberry.type(cls, description=description)

    return make if cls is None else make(cls)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


def to_global_id(type_name: str, raw_id: str) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("="))


def from_global_id(global_id: str) -> tuple[str, str] | None:
    """(type name, raw id), or None when the id is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, raw_id = base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError):
        return None
    return (type_name, raw_id) if type_name and raw_id else None


def raw_id(global_id: str, type_name: str) -> str | None:
    """The raw id inside a global id of `type_name`, else None."""
    decoded = from_global_id(global_id)
    return decoded[1] if decoded and decoded[0] == type_name else None


NodeType = TypeVar("NodeType")


@strawberry.type
class Edge(Generic[NodeType]):
    node: NodeType
    cursor: str


@strawberry.type
class Connection(Generic[NodeType]):
    """Strawberry names `Connection[Dataset]` DatasetConnection (and its edge DatasetEdge), as the schema had them."""

    edges: list[Edge[NodeType]]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: Any, to_node: Callable[[Any], NodeType]) -> Connection[NodeType]:
        """A cursor connection from a service Page, mapping rows with `to_node`."""
        return cls(
            edges=[
                Edge(node=to_node(row), cursor=cursor) for row, cursor in zip(page.items, page.cursors, strict=True)
            ],
            page_info=page_info(page.cursors, has_next=page.has_next, has_previous=page.has_previous),
            total_count=page.total,
        )


def page_info(cursors: list[str], *, has_next: bool, has_previous: bool) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


PageType = TypeVar("PageType")


async def listed(
    info: Any, call: Callable[..., Awaitable[PageType]], first: int | None, after: str | None, **of: Any
) -> PageType:
    """A page of what a node holds (a pipeline's runs, a webhook's deliveries) from the service's list call, in a
    session of its own; the node was read as the caller's, so `of` names it and no owner is needed."""
    context = info.context
    async with context.session() as session:
        return await call(session, **of, **context.page(first, after))


def user_error(exc: ServiceError) -> UserError:
    return UserError(code=ErrorCode(exc.code), message=exc.message, field=exc.field)


def signed_link(info: Any, path: str, *, owner_id: str, kind: str, object_id: str, fmt: str) -> str:
    """`path` with a download token that expires after the configured minutes; it opens without a header."""
    settings = info.context.settings
    token = files.sign_download(
        secret=settings.resolved_secret_key,
        owner_id=owner_id,
        kind=kind,
        object_id=object_id,
        fmt=fmt,
        minutes=settings.download_url_minutes,
    )
    return f"{path}?token={token}"


def field_error(exc: ServiceError) -> GraphQLError:
    """A ServiceError raised inside a query field, as a GraphQL error a client can switch on."""
    extensions = {"code": exc.code} | ({"field": exc.field} if exc.field else {})
    return GraphQLError(exc.message, extensions=extensions)


class ServiceErrors(FieldExtension):
    """Payload return types (those with an `errors` field) get `errors=[UserError]`; anything else a GraphQLError
    carrying `code` (and `field`), so one rule replaces a try/except per operation."""

    def apply(self, field: Any) -> None:
        self.field = field

    def _payload_type(self) -> type | None:
        definition = getattr(self.field.type, "__strawberry_definition__", None)
        if definition is not None and any(f.python_name == "errors" for f in definition.fields):
            return self.field.type
        return None

    def _answer(self, exc: ServiceError) -> Any:
        payload = self._payload_type()
        if payload is None:
            raise field_error(exc) from exc
        return payload(errors=[user_error(exc)])

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            return next_(source, info, **kwargs)
        except ServiceError as exc:
            return self._answer(exc)

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except ServiceError as exc:
            return self._answer(exc)
