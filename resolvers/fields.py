"""How operations are declared: a ServiceError becomes the payload's `errors`, or a coded GraphQL error."""
from __future__ import annotations

from typing import Any

import strawberry

from resolvers.permissions import IsAuthenticated, IsVerifiedWhereRequired
from schema.common import ServiceErrors


def _permissions(public: bool, unverified_ok: bool) -> list:
    return [] if public else [IsAuthenticated] if unverified_ok else [IsAuthenticated, IsVerifiedWhereRequired]


def query(*, public: bool = False, unverified_ok: bool = False, **options: Any) -> Any:
    """A query field for signed-in callers (unless `public`; verified ones where that is required, unless
    `unverified_ok`), with ServiceErrors."""
    return strawberry.field(permission_classes=_permissions(public, unverified_ok), extensions=[ServiceErrors()],
                            **options)


def mutation(*, public: bool = False, unverified_ok: bool = False, **options: Any) -> Any:
    """A mutation for signed-in callers (unless `public`; as `query` for verification), with ServiceErrors."""
    return strawberry.mutation(permission_classes=_permissions(public, unverified_ok), extensions=[ServiceErrors()],
                               **options)
