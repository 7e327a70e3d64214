"""The replica's monitoring task: flush the recorder, judge settled windows, expire old ones, until stopped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from services.monitoring.recorder import PredictionRecorder
from services.monitoring.service import MonitorConfig, expire_windows, judge_closed_windows

logger = logging.getLogger("assay.monitoring")
EXPIRY_SECONDS = 300  # retention is in days: deleting every five minutes is plenty (sooner for a shorter one)


async def keep_watch(recorder: PredictionRecorder, sessions: Callable[[], AsyncSession], config: MonitorConfig) -> None:
    expired_at = 0.0
    expiry_every = max(config.flush_seconds, min(EXPIRY_SECONDS, config.retention_days * 86400 / 4))
    try:
        while True:
            await asyncio.sleep(config.flush_seconds)
            for step in (recorder.flush, lambda: judge_closed_windows(sessions, config=config)):
                try:
                    await step()
                except Exception:  # one bad tick must not end monitoring
                    logger.exception("A monitoring tick failed")
            if time.monotonic() - expired_at > expiry_every:
                try:
                    await expire_windows(sessions, retention_days=config.retention_days)
                    expired_at = time.monotonic()
                except Exception:
                    logger.exception("Expiring monitoring windows failed")
    finally:
        try:  # what this replica recorded since the last tick
            await asyncio.shield(recorder.flush())
        except Exception:
            logger.exception("The last monitoring flush failed")
