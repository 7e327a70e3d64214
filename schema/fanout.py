"""Serving one event to many subscribers: execute it once per distinct subscription, not once per socket.

Two hundred clients watching one job send the same document; graphql-core would run the selection
set for each of them on every event. The executor below keeps each event's result and hands it to
every subscription whose document, relevant variables and user are the same. The view encodes that
shared result to JSON once as well (see server.graphql_view).

What is shared lives in one `SharedEvents` per app (AppState.shared_events), reached here through
`context_value.app`: two apps in one process (tests, benches) never see each other's events.
This is the one module that knows graphql-core's executor; tests/transport/test_library_seams.py checks the
two methods overridden here still exist with the signatures relied on.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from graphql import ExecutionResult, FieldNode, FragmentDefinitionNode, VariableNode, Visitor, print_ast, visit
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class IdentityMemo:
    """Values derived from objects, keyed by identity; keeps the object alive so its id is not reused.

    Bounded: the oldest entries go first, and a subscriber that far behind just computes again.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self.builds = 0  # values computed, not found

    def get(self, obj: Any, build: Callable[[], Any]) -> Any:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = build()
        self.builds += 1
        self._entries[id(obj)] = (obj, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


class SharedEvents:
    """What each published event becomes, computed once for all its subscribers, for one app.

    Three steps, each keyed by the identity of what the step before produced: the bus event's
    GraphQL object (schema.jobs.JobEvent.from_event), that object's execution per share key
    (SharedEventExecutor), and the executed data's JSON text (server.graphql_view). The counters
    say how much work was really done, so a test or an operator can see the sharing happen.
    """

    def __init__(self, events: int = 512, encodings: int = 256) -> None:
        self._nodes = IdentityMemo(events)
        self._results = IdentityMemo(events)
        self._encoded = IdentityMemo(encodings)
        self.executions = 0  # events executed (not served from another subscriber's result)

    def node(self, event: Any, build: Callable[[], Any]) -> Any:
        """The one GraphQL object for a bus event, so its execution can be shared too."""
        return self._nodes.get(event, build)

    def results(self, node: Any) -> dict:
        """The executed results for one event object, by share key (filled by SharedEventExecutor)."""
        return self._results.get(node, dict)

    def encoded(self, data: Any, encode: Callable[[], Any]) -> Any:
        """The JSON text of one executed result, whichever socket sends it first."""
        return self._encoded.get(data, encode)

    @property
    def encodings(self) -> int:
        """Results encoded to JSON (not served from another socket's text)."""
        return self._encoded.builds


class _VariableNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _selection_variables(operation: Any, fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    """Variables that can change an event's result: those under the root fields, not their own arguments."""
    collector = _VariableNames()
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            for directive in selection.directives or ():
                visit(directive, collector)
            if selection.selection_set is not None:
                visit(selection.selection_set, collector)
        else:
            visit(selection, collector)
    for fragment in fragments.values():
        visit(fragment, collector)
    return collector.names


class _KnownResult:
    """Stands in for a per-event executor when the event's result is already known."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> Any:
        return self.result


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes each subscription event once per (user, document, relevant variables) and reuses it."""

    _subscription_key: tuple | None = None  # on the subscription's executor, computed at its first event
    _event_key: tuple | None = None  # on each per-event copy

    def _subscription_share_key(self) -> tuple:
        source = self.operation.loc.source.body if self.operation.loc else print_ast(self.operation)
        names = _selection_variables(self.operation, self.fragment_definitions)
        coerced = self.variable_values.coerced
        variables = json.dumps({name: coerced.get(name) for name in sorted(names)}, default=str)
        user = getattr(self.context_value, "user_id", None)
        return (user, source, self.operation.name.value if self.operation.name else None, variables)

    def _shared_events(self) -> SharedEvents | None:
        """The app's memo; None when the schema runs without Assay's context (nothing to share then)."""
        return getattr(getattr(self.context_value, "app", None), "shared_events", None)

    def build_per_event_executor(self, payload: Any) -> Any:
        shared = self._shared_events()
        if shared is None:
            return super().build_per_event_executor(payload)
        if self._subscription_key is None:
            self._subscription_key = self._subscription_share_key()
        known = shared.results(payload).get(self._subscription_key)
        if known is not None:  # another subscriber already ran it: skip even copying the executor
            return _KnownResult(known)
        executor = cast(SharedEventExecutor, super().build_per_event_executor(payload))  # a copy of this one
        executor._event_key = self._subscription_key
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key
        if key is None:
            return super().execute_operation(serially)
        shared = self._shared_events()
        assert shared is not None, "a key is only set where there is a memo (build_per_event_executor)"
        results = shared.results(self.root_value)
        if key in results:
            return results[key]
        shared.executions += 1
        result = super().execute_operation(serially)
        if self.is_awaitable(result):

            async def remember() -> Any:
                value = await result
                if not value.errors:
                    results[key] = value
                return value

            return remember()
        assert isinstance(result, ExecutionResult), "a subscription event has no incremental delivery"
        if not result.errors:
            results[key] = result
        return result
