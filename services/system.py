"""Health and operator facts: is the database there, how big is everything, how busy are the workers."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.files import directory_size


async def database_reachable(session: AsyncSession) -> bool:
    try:
        await session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable" to a load balancer
        return False


def redacted_url(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def database_file_size(database_url: str) -> int | None:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    paths = [Path(url.database + suffix) for suffix in ("", "-wal", "-shm")]
    return sum(p.stat().st_size for p in paths if p.exists())


async def row_counts(session: AsyncSession) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, table in SQLModel.metadata.tables.items():
        counts[name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


def data_dir_size(data_dir: Path) -> int:
    return directory_size(data_dir)



