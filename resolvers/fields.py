"""How operations are declared: a ServiceError becomes the payload's `errors`, or a coded GraphQL error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension

from resolvers.permissions import IsAdmin, IsAuthenticated, IsVerifiedWhereRequired
from schema.common import ServiceErrors
from services.jobs.priority import requesting


def _permissions(public: bool, unverified_ok: bool, admin: bool) -> list:
    if admin:  # administrators only; their own verification is not asked for
        return [IsAuthenticated, IsAdmin]
    return [] if public else [IsAuthenticated] if unverified_ok else [IsAuthenticated, IsVerifiedWhereRequired]


def query(*, public: bool = False, unverified_ok: bool = False, admin: bool = False, **options: Any) -> Any:
    """A query field for signed-in callers (unless `public`; verified ones where that is required, unless
    `unverified_ok`; administrators only with `admin`), with ServiceErrors."""
    return strawberry.field(
        permission_classes=_permissions(public, unverified_ok, admin), extensions=[ServiceErrors()], **options
    )


def mutation(*, public: bool = False, unverified_ok: bool = False, admin: bool = False, **options: Any) -> Any:
    """A mutation for signed-in callers (unless `public`; as `query` for verification and `admin`), with
    ServiceErrors."""
    return strawberry.mutation(
        permission_classes=_permissions(public, unverified_ok, admin),
        extensions=[ServiceErrors(), JobPriorityFromInput()],
        **options,
    )


class JobPriorityFromInput(FieldExtension):
    """A mutation whose input has `priority` (every job-starting one: schema.jobs.priority_input) enqueues its
    jobs at that priority: the engine reads it from the request's context, so no domain service needs a parameter."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        with requesting(getattr(kwargs.get("input"), "priority", None)):
            return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        with requesting(getattr(kwargs.get("input"), "priority", None)):
            return await next_(source, info, **kwargs)
