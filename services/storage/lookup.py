"""Many rows of one table by id in one query, scoped to an owner: the batch form of each service's `get_*`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

Row = TypeVar("Row")


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
