"""resolvers/fields.py: a resolver declaring `ctx: Context` is handed the request's context where strawberry
passes `info`, and its GraphQL arguments are exactly its other parameters."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import strawberry

from resolvers.context import Context
from resolvers.fields import query


class Greetings:
    @query(public=True, description="Says who asked, from where")
    async def greeting(self, ctx: Context, name: str, times: int = 1) -> str:
        return " ".join([f"{name} from {ctx.client_address}"] * times)


def test_a_resolver_taking_ctx_gets_the_request_context_and_only_its_own_arguments():
    schema = strawberry.Schema(query=strawberry.type(Greetings))
    assert "greeting(name: String!, times: Int! = 1): String!" in schema.as_str()
    answer = asyncio.run(
        schema.execute('{ greeting(name: "Ada", times: 2) }', context_value=SimpleNamespace(client_address="10.0.0.7"))
    )
    assert answer.errors is None
    assert answer.data == {"greeting": "Ada from 10.0.0.7 Ada from 10.0.0.7"}


def test_a_synchronous_resolver_cannot_take_ctx():
    def hello(self, ctx: Context) -> str:
        return "hello"

    with pytest.raises(AssertionError, match="only an async resolver takes `ctx`"):
        query(public=True)(hello)
