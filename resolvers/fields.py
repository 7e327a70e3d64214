"""How operations are declared: a ServiceError becomes the payload's `errors`, or a coded GraphQL error."""
from __future__ import annotations

from typing import Any

import strawberry

from resolvers.permissions import IsAuthenticated
from schema.common import ServiceErrors


def query(*, public: bool = False, **options: Any) -> Any:
    """A query field for signed-in callers (unless `public`), with ServiceErrors."""
    return strawberry.field(permission_classes=[] if public else [IsAuthenticated], extensions=[ServiceErrors()],
                            **options)


def mutation(*, public: bool = False, **options: Any) -> Any:
    """A mutation for signed-in callers (unless `public`), with ServiceErrors."""
    return strawberry.mutation(permission_classes=[] if public else [IsAuthenticated], extensions=[ServiceErrors()],
                               **options)
