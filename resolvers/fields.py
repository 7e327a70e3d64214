"""How operations are declared: a ServiceError becomes the payload's `errors`, or a coded GraphQL error; a
resolver takes the request's context as `ctx: Context`; the caller's object by id and the caller's list are one
declaration each."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension

from resolvers.permissions import IsAdmin, IsAuthenticated, IsVerifiedWhereRequired
from schema.common import ServiceErrors, raw_id
from services.jobs.priority import requesting


def _permissions(public: bool, unverified_ok: bool, admin: bool) -> list:
    if admin:  # administrators only; their own verification is not asked for
        return [IsAuthenticated, IsAdmin]
    return [] if public else [IsAuthenticated] if unverified_ok else [IsAuthenticated, IsVerifiedWhereRequired]


def query(*, public: bool = False, unverified_ok: bool = False, admin: bool = False, **options: Any) -> Any:
    """A query field for signed-in callers (unless `public`; verified ones where that is required, unless
    `unverified_ok`; administrators only with `admin`), with ServiceErrors."""
    field = strawberry.field(
        permission_classes=_permissions(public, unverified_ok, admin), extensions=[ServiceErrors()], **options
    )
    return lambda resolver: field(given_context(resolver))


def mutation(*, public: bool = False, unverified_ok: bool = False, admin: bool = False, **options: Any) -> Any:
    """A mutation for signed-in callers (unless `public`; as `query` for verification and `admin`), with
    ServiceErrors."""
    field = strawberry.mutation(
        permission_classes=_permissions(public, unverified_ok, admin),
        extensions=[ServiceErrors(), JobPriorityFromInput()],
        **options,
    )
    return lambda resolver: field(given_context(resolver))


def given_context(resolver: Callable[..., Any]) -> Callable[..., Any]:
    """A resolver taking `ctx: Context` gets the request's context there (strawberry knows only `info`), so it
    starts with its work rather than with `ctx: Context = info.context`. One that needs `info` itself (signed
    links, nested loaders) takes `info` as strawberry documents, and is left as it is."""
    signature = inspect.signature(resolver)
    if "ctx" not in signature.parameters:
        return resolver
    assert inspect.iscoroutinefunction(resolver), f"{resolver.__name__}: only an async resolver takes `ctx`"

    @functools.wraps(resolver)
    async def resolve(*args: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        return await resolver(*args, ctx=info.context, **kwargs)

    # What strawberry reads the arguments from: the resolver's own, with `info` where `ctx` stands.
    info = inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info)
    wrapper: Any = resolve
    wrapper.__signature__ = signature.replace(
        parameters=[info if p.name == "ctx" else p for p in signature.parameters.values()]
    )
    return resolve


def owned_node(
    get: Callable[..., Awaitable[Any]], node: type, id_argument: str, *, description: str | None = None
) -> Any:
    """A query `x(id: ID!): X`: the caller's `node` by its global id through the service's `get(session,
    owner_id=..., <id_argument>=<raw id>)`; null for a missing id and for another user's alike."""
    type_name = node.__strawberry_definition__.name  # type: ignore[attr-defined]  # a strawberry type

    async def resolve(info: strawberry.Info, id: strawberry.ID) -> Any:
        row = await info.context.owned(get, **{id_argument: raw_id(id, type_name)})
        return node.from_row(row) if row else None  # type: ignore[attr-defined]  # every node type has from_row

    return query(description=description, graphql_type=node | None)(resolve)


def owned_connection(
    list_page: Callable[..., Awaitable[Any]], connection: Any, to_node: Callable[[Any], Any], *, description: str
) -> Any:
    """A query `xs(first: Int = 20, after: String): XConnection`: a page of the caller's objects, newest first,
    from the service's `list_page(session, owner_id=..., first=..., after=..., max_first=...)`."""

    async def resolve(info: strawberry.Info, first: int | None = 20, after: str | None = None) -> Any:
        ctx = info.context
        page = await ctx.owned(list_page, **ctx.page(first, after))
        return connection.from_page(page, to_node)

    return query(description=description, graphql_type=connection)(resolve)


class JobPriorityFromInput(FieldExtension):
    """A mutation whose input has `priority` (every job-starting one: schema.jobs.priority_input) enqueues its
    jobs at that priority: the engine reads it from the request's context, so no domain service needs a parameter."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        with requesting(getattr(kwargs.get("input"), "priority", None)):
            return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        with requesting(getattr(kwargs.get("input"), "priority", None)):
            return await next_(source, info, **kwargs)
