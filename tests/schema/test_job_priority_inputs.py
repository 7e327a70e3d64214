"""Every mutation that starts a job takes `priority`: a job kind added without it would silently run at NORMAL."""

from __future__ import annotations

from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLObjectType

from schema.root import create_schema


def _named(kind):
    return kind.of_type if isinstance(kind, GraphQLNonNull) else kind


def test_every_job_starting_mutation_takes_a_priority():
    graphql_schema = create_schema()._schema
    starting, missing = [], []
    for name, field in graphql_schema.mutation_type.fields.items():
        payload = _named(field.type)
        if not isinstance(payload, GraphQLObjectType) or "job" not in payload.fields or "input" not in field.args:
            continue
        if name in ("cancelJob", "answerJob"):  # act on a job that exists
            continue
        starting.append(name)
        given = _named(field.args["input"].type)
        if not isinstance(given, GraphQLInputObjectType) or "priority" not in given.fields:
            missing.append(name)
    assert len(starting) >= 12 and missing == [], missing
