"""One domain's declaration to the GraphQL schema: its root operation classes, what each of its job kinds makes
(how `Job` links to it), and its DataLoaders. Each resolvers/<domain>.py exports one (`GRAPHQL`); schema/root.py
lists them and assembles Query, Mutation, Subscription, `Job.output` and the loaders from that list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from services.storage.tables import Job as JobRow

if TYPE_CHECKING:
    from resolvers.loaders import Loaders

LoadMade = Callable[[Any, JobRow], Awaitable[Any]]  # (info, job row) -> the GraphQL object, or None


@dataclass(frozen=True)
class Made:
    """Something a kind of job makes, and how to load it for a job of that kind.

    `link` names the `Job` field that shows it (`report`, `comparison`, ...) when it has one of its own; the first
    of a kind's `Made` is also its `Job.output` (a member of the JobOutput union), so a new kind needs no new field.
    """

    type: type
    load: LoadMade
    link: str | None = None


@dataclass(frozen=True)
class GraphQLDomain:
    name: str
    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    makes: Mapping[str, tuple[Made, ...]] = field(default_factory=dict)  # by job kind, the output first
    # Loaders by name (`info.context.loaders.<name>`), each made from the request's Loaders once per request
    loaders: Mapping[str, Callable[[Loaders], DataLoader]] = field(default_factory=dict)


async def made(info: Any, row: JobRow, *, link: str | None = None) -> Any:
    """What the job's kind declares it made: its output, or the one shown by the `Job` field `link`; else None."""
    from schema.root import MADE  # assembled from every domain, after they are all imported

    for thing in MADE.get(row.kind, ()):
        if link is None or thing.link == link:
            return await thing.load(info, row)
    return None


def loaders_of(domains: tuple[GraphQLDomain, ...]) -> dict[str, Callable[[Loaders], DataLoader]]:
    """Every domain's loaders by name; a name declared twice (or one `Loaders` itself uses) is refused at start-up,
    since `ctx.loaders.<name>` could reach only one of them."""
    from resolvers.loaders import Loaders

    loaders: dict[str, Callable[[Loaders], DataLoader]] = {}
    owners: dict[str, str] = {}
    for domain in domains:
        for name, make in domain.loaders.items():
            if name in owners:
                raise ValueError(f"loader {name!r} declared by {owners[name]} and {domain.name}")
            if name.startswith("_") or hasattr(Loaders, name) or name in Loaders.__annotations__:
                raise ValueError(f"loader {name!r} of {domain.name} is a name Loaders itself uses")
            loaders[name], owners[name] = make, domain.name
    return loaders
