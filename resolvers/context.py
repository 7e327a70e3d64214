"""The per-request context every resolver receives, and the app-wide state it points to."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Concatenate, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.loaders import Loaders
from services.cache import AnswerCache, NoCache
from services.jobs.bus import ServerBus
from services.jobs.engine import JobEngine
from services.ratelimit import RateLimiter
from services.storage.tables import User

T = TypeVar("T")

if TYPE_CHECKING:
    from schema.fanout import SharedEvents
    from server.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine  # the one `sessions` is bound to: disposed at shutdown, asked for facts and migrations
    sessions: async_sessionmaker[AsyncSession]
    jobs: JobEngine
    bus: ServerBus  # in-memory, or Redis-fed: subscribers see the same local fan-out
    login_failures_by_account: RateLimiter
    login_failures_by_address: RateLimiter
    requests_by_user: RateLimiter
    version: str
    shared_events: SharedEvents  # what each bus event became for its subscribers (schema.fanout)
    redis: Any = None  # the shared Redis client when ASSAY_REDIS_URL is set
    monitor_config: Any = None  # services.monitoring.service.MonitorConfig
    recorder: Any = None  # services.monitoring.recorder.PredictionRecorder; None when ASSAY_MONITORING=off
    started_at: float = field(default_factory=time.monotonic)
    cache: AnswerCache = field(default_factory=NoCache)  # chart, rows and profile answers (services/cache.py)
    metrics: Any = None  # server.metrics.Metrics: the shared schema's metrics extension counts on the app's own


@dataclass
class Context:
    app: AppState
    user: User | None = None
    client_address: str = "unknown"
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None

    @property
    def settings(self) -> Settings:
        return self.app.settings

    def session(self) -> AsyncSession:
        """A fresh session for one operation; use as `async with ctx.session() as session`."""
        return self.app.sessions()

    @cached_property
    def loaders(self) -> Loaders:
        """Created at first use, one set per request (per socket for subscriptions), never on shared objects."""
        return Loaders(self)

    @property
    def user_id(self) -> str:
        return self.signed_in.id

    @property
    def signed_in(self) -> User:
        """The caller, where IsAuthenticated guards the field (as every field but a few does)."""
        assert self.user is not None, "guarded by IsAuthenticated"
        return self.user

    async def owned(self, call: Callable[Concatenate[AsyncSession, ...], Awaitable[T]], /, **arguments: Any) -> T:
        """One service call in a session of its own, on the caller's behalf: every owned read or write takes
        `owner_id`, and here it can only be the caller's."""
        async with self.session() as session:
            return await call(session, owner_id=self.user_id, **arguments)

    async def with_jobs(self, call: Callable[Concatenate[AsyncSession, ...], Awaitable[T]], /, **arguments: Any) -> T:
        """An owned call to a service that starts or removes jobs: those take this server's job engine and data
        directory, so a resolver passes only what the caller asked for."""
        return await self.owned(call, jobs=self.app.jobs, data_dir=self.settings.resolved_data_dir, **arguments)

    def page(self, first: int | None, after: str | None) -> dict[str, Any]:
        """A connection's paging arguments as every service's list call takes them (20 by default, capped)."""
        return {"first": 20 if first is None else first, "after": after, "max_first": self.settings.max_page_size}
