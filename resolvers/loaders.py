"""Per-request DataLoaders: each nested object field of a page costs one query for the whole page.

Each domain declares its own loaders (`GraphQLDomain.loaders` in resolvers/<domain>.py: a name and a function
making the loader from this request's `Loaders`); `ctx.loaders.<name>` makes the named one on first use in a
request and keeps it for the rest of it. `batch` and `by_id` are what those functions build loaders from.

Every loader is scoped to the caller's owner_id, so another user's id loads None, as with the `get_*` services.
They do not cache (`cache=False`): a subscription's context lives as long as its socket, and a cached row would
go stale; batching within one execution step is what saves the queries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from services.storage.lookup import owned_by_ids

if TYPE_CHECKING:
    from resolvers.context import Context


class Loaders:
    context: Context  # the request's: its caller and settings

    def __init__(self, context: Context) -> None:
        self.context = context

    def __getattr__(self, name: str) -> DataLoader:
        """A loader a domain declares (GraphQLDomain.loaders), made on first use in this request."""
        from schema.root import LOADERS  # assembled from every domain's declaration

        make = LOADERS.get(name)
        if make is None:
            raise AttributeError(f"no loader {name!r}")
        loader = self.__dict__[name] = make(self)
        return loader

    def batch(
        self, load_many: Callable[[Any, list], Awaitable[dict[str, Any]]], key: Callable[[Any], str]
    ) -> DataLoader:
        """A loader answering a batch of keys with one `load_many(session, keys)` (a dict by `key(k)`)."""

        async def load(keys: Sequence[Any]) -> list[Any]:
            async with self.context.session() as session:
                found = await load_many(session, list(keys))
            return [found.get(key(k)) for k in keys]

        return DataLoader(load_fn=load, cache=False)

    def owned(
        self,
        call: Callable[..., Awaitable[dict[str, Any]]],
        /,
        batch: str,
        *,
        key: Callable[[Any], str] = lambda same: same,
        **arguments: Any,
    ) -> DataLoader:
        """A loader answering a batch with one owned service call, as `Context.owned` makes a single one:
        `call(session, owner_id=<the caller>, <batch>=<the keys>, **arguments)`, a dict by `key(k)`."""

        async def load_many(session: Any, keys: list[Any]) -> dict[str, Any]:
            return await call(session, owner_id=self.context.user_id, **{batch: keys}, **arguments)

        return self.batch(load_many, key=key)

    def by_id(self, table: type) -> DataLoader:
        """By id: the caller's row of `table`, or None (missing, or another user's)."""
        return self.owned(owned_by_ids, "ids", table=table)
