"""A replica's record of what predict served: an in-process buffer per model and window, written to the
database in batches by a background task, so a predict request only appends to memory.

Each replica writes its own rows (`writer` is unique per process), so replicas never contend for a row;
readers merge a window's rows (services.monitoring.sample.merge). Memory is bounded: per model, the
current window's counts and a sample of at most `reservoir_rows` rows; a window is dropped from memory
once it has ended and been written.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.monitoring.sample import BottomK, serialized, window_length, window_start
from services.storage.tables import MonitorWindow, utcnow

logger = logging.getLogger("assay.monitoring")


def writer_name() -> str:
    """Unique per process: a restarted replica starts new rows rather than overwrite its predecessor's."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass
class WindowBuffer:
    owner_id: str
    model_id: str
    start: datetime
    sample: BottomK
    requests: int = 0
    rows: int = 0
    prediction_counts: dict[str, int] = field(default_factory=dict)
    dirty: bool = True


class PredictionRecorder:
    def __init__(
        self,
        *,
        sessions: Callable[[], AsyncSession],
        window_minutes: float,
        reservoir_rows: int,
        writer: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.window_minutes = window_minutes
        self.reservoir_rows = reservoir_rows
        self.writer = writer or writer_name()
        self._windows: dict[tuple[str, datetime], WindowBuffer] = {}

    def record(
        self, *, owner_id: str, model_id: str, classes: bool, rows: list[dict[str, Any]], outputs: list[Any]
    ) -> None:
        """One predict request: its rows (as served) and the model's outputs. Memory only; no I/O."""
        start = window_start(utcnow(), self.window_minutes)
        buffer = self._windows.get((model_id, start))
        if buffer is None:
            buffer = self._windows[(model_id, start)] = WindowBuffer(
                owner_id=owner_id, model_id=model_id, start=start, sample=BottomK(self.reservoir_rows)
            )
        buffer.requests += 1
        buffer.rows += len(rows)
        buffer.dirty = True
        for row, output in zip(rows, outputs, strict=True):
            buffer.sample.offer(row, output)
            if classes:
                buffer.prediction_counts[output] = buffer.prediction_counts.get(output, 0) + 1

    async def flush(self) -> int:
        """Write every window changed since the last flush in one transaction; forget ended ones. Returns how
        many windows were written."""
        now = utcnow()
        changed = [buffer for buffer in self._windows.values() if buffer.dirty]
        # Snapshot before the first await: record() may run again while the database is written.
        rows: list[dict[str, Any]] = [
            {
                "owner_id": b.owner_id,
                "model_id": b.model_id,
                "window_start": b.start,
                "writer": self.writer,
                "request_count": b.requests,
                "row_count": b.rows,
                "prediction_counts": dict(b.prediction_counts),
                "sample": b.sample.items() if b.sample.changed else None,
            }
            for b in changed
        ]
        for buffer in changed:
            buffer.dirty = buffer.sample.changed = False
        try:
            for values in rows:  # most flushes of a busy window change only its counts
                values["sample"] = await serialized(values["sample"]) if values["sample"] is not None else None
            written = await self._write(rows)
        except Exception:  # the database is away: write these windows (and their samples) again next time
            for buffer in changed:
                buffer.dirty = buffer.sample.changed = True
            raise
        length = window_length(self.window_minutes)
        for key, buffer in list(self._windows.items()):
            if not buffer.dirty and buffer.start + length <= now:
                del self._windows[key]
        return written

    async def _write(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        try:
            async with self.sessions() as session:
                for values in rows:
                    await _upsert(session, values)
                await session.commit()
            return len(rows)
        except IntegrityError:  # a model deleted since: write the others one by one, drop its window
            written = 0
            for values in rows:
                try:
                    async with self.sessions() as session:
                        await _upsert(session, values)
                        await session.commit()
                        written += 1
                except IntegrityError:
                    logger.info("Dropped the monitoring window of model %s (deleted)", values["model_id"])
            return written

    @property
    def buffered_windows(self) -> int:
        return len(self._windows)


async def _upsert(session: AsyncSession, values: dict[str, Any]) -> None:
    """Only this writer ever writes its row, so a read-then-write cannot race another writer."""
    row = (
        await session.exec(
            select(MonitorWindow).where(
                MonitorWindow.model_id == values["model_id"],
                MonitorWindow.window_start == values["window_start"],
                MonitorWindow.writer == values["writer"],
            )
        )
    ).first()
    if row is None:
        session.add(MonitorWindow(**{**values, "sample": values["sample"] or "[]"}))
        await session.flush()
        return
    for name in ("request_count", "row_count", "prediction_counts", "sample"):
        if values[name] is not None:
            setattr(row, name, values[name])
    row.updated_at = utcnow()
    session.add(row)
