"""Serving one event to many subscribers: execute it once per distinct subscription, not once per socket.

Two hundred clients watching one job send the same document; graphql-core would run the selection
set for each of them on every event. The executor below keeps each event's result and hands it to
every subscription whose document, relevant variables and user are the same. The view encodes that
shared result to JSON once as well (see server.graphql_view).
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Callable

from graphql import FieldNode, FragmentDefinitionNode, VariableNode, Visitor, print_ast, visit
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class IdentityMemo:
    """Values derived from objects, keyed by identity; keeps the object alive so its id is not reused.

    Bounded: the oldest entries go first, and a subscriber that far behind just computes again.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    def get(self, obj: Any, build: Callable[[], Any]) -> Any:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = build()
        self._entries[id(obj)] = (obj, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


EVENT_RESULTS = IdentityMemo(512)


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

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._subscription_key is None:
            self._subscription_key = self._subscription_share_key()
        known = EVENT_RESULTS.get(payload, dict).get(self._subscription_key)
        if known is not None:  # another subscriber already ran it: skip even copying the executor
            return _KnownResult(known)
        executor = super().build_per_event_executor(payload)
        executor._event_key = self._subscription_key
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key
        if key is None:
            return super().execute_operation(serially)
        results: dict = EVENT_RESULTS.get(self.root_value, dict)
        if key in results:
            return results[key]
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            async def remember() -> Any:
                value = await result
                if not value.errors:
                    results[key] = value
                return value
            return remember()
        if not result.errors:
            results[key] = result
        return result
