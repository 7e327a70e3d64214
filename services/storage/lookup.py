"""Rows by id scoped to an owner: one (each service's `get_*`), or many of one table in one query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import not_found

Row = TypeVar("Row")


async def owned(session: AsyncSession, table: type[Row], *, owner_id: str, row_id: str | None) -> Row | None:
    """The owner's row with that id, or None: another owner's reads as absent, as a missing one does."""
    row: Any = await session.get(table, row_id) if row_id else None
    return row if row is not None and row.owner_id == owner_id else None


async def require_owned(
    session: AsyncSession, table: type[Row], *, owner_id: str, row_id: str | None, what: str, field: list[str]
) -> Row:
    """The owner's row with that id, else NOT_FOUND ("<what> not found" at `field`), for another owner's too."""
    row = await owned(session, table, owner_id=owner_id, row_id=row_id)
    if row is None:
        raise not_found(what, field)
    return row


async def owned_by_ids(
    session: AsyncSession, table: type[Row], *, owner_id: str, ids: Iterable[str | None]
) -> dict[str, Row]:
    """The owner's rows among `ids`, by id; another owner's id is simply absent, as a missing one is."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    table_: Any = table
    rows = (
        await session.exec(select(table_).where(col(table_.id).in_(wanted), col(table_.owner_id) == owner_id))
    ).all()
    return {row.id: row for row in rows}
