"""Keyset pagination, newest first, with opaque cursors."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import invalid

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: int


def checked_count(
    value: int | None, *, name: str, default: int, most: int | None, least: int = 0, field: list[str] | None = None
) -> int:
    """A caller's count or position (`first`, `last`, `limit`, `top`, `offset`): absent means `default`; outside
    least..most is INVALID_INPUT naming the argument. Never clamped silently, and never handed to a slice
    unchecked, where a negative number counts from the end (`[:-1]` drops the last item)."""
    if value is None:
        return default
    if value < least or (most is not None and value > most):
        bounds = f"between {least} and {most:,}" if most is not None else f"at least {least}"
        raise invalid(f"`{name}` must be {bounds}", field or [name])
    return value


def contains(column: Any, text: str) -> Any:
    """A filter: `column` contains `text` literally, case-insensitively (LIKE's % and _ in it escaped)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return col(column).ilike(pattern, escape="\\")


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(created)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Not a valid cursor", ["after"]) from exc
    if moment.tzinfo is None:  # every cursor we issue carries its zone; the database refuses naive times
        raise invalid("Not a valid cursor", ["after"])
    return moment, row_id


async def paginate(
    session: AsyncSession, table: type[T], *, filters: list[Any], first: int, after: str | None, max_first: int
) -> Page[T]:
    """One page of `table` rows matching `filters`, newest first."""
    model: Any = table  # any table with `created_at` and `id` columns; col() needs the class's columns
    checked_count(first, name="first", default=first, most=max_first)
    newest_first = (col(model.created_at).desc(), col(model.id).desc())
    if not after:  # the first page: the total rides along as a window count, one statement instead of two
        counted = (
            await session.exec(
                select(model, func.count().over()).where(*filters).order_by(*newest_first).limit(first + 1)
            )
        ).all()
        rows, total = [row for row, _ in counted], (counted[0][1] if counted else 0)
    else:
        total = await session.scalar(select(func.count()).select_from(model).where(*filters)) or 0
        created, row_id = decode_cursor(after)
        rows = list(
            (
                await session.exec(
                    select(model)
                    .where(*filters)
                    .where(
                        or_(
                            col(model.created_at) < created,
                            and_(col(model.created_at) == created, col(model.id) < row_id),
                        )
                    )
                    .order_by(*newest_first)
                    .limit(first + 1)
                )
            ).all()
        )
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        cursors=[encode_cursor(r.created_at, r.id) for r in rows],
        has_next=has_next,
        has_previous=after is not None,
        total=total,
    )


class Listing(Generic[T]):
    """A list call declared once: one page of `table`'s rows, newest first, whose `by` column equals the caller's
    value (the owner, or the parent they belong to: always required, so no call lists everyone's rows); each of
    `narrowed_by` the caller gives (not None) narrows the page to rows whose column equals it. Called as
    `(session, *, <by>=..., first=..., after=..., max_first=..., <narrowed_by>=...)`."""

    def __init__(self, table: type[T], by: str, *narrowed_by: str) -> None:
        self.table, self.by, self.narrowed_by = table, by, narrowed_by

    async def __call__(
        self, session: AsyncSession, *, first: int, after: str | None, max_first: int, **values: str | None
    ) -> Page[T]:
        if values.get(self.by) is None or values.keys() - {self.by, *self.narrowed_by}:
            raise TypeError(f"Listing {self.table.__name__} takes {self.by}= and {self.narrowed_by}, not {[*values]}")
        model: Any = self.table  # col() needs the class's columns
        filters = [col(getattr(model, name)) == value for name, value in values.items() if value is not None]
        return await paginate(session, self.table, filters=filters, first=first, after=after, max_first=max_first)
