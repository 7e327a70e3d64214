"""Serving by name costs what serving by id costs, and a move is seen by another replica on its next request."""

from __future__ import annotations

from starlette.testclient import TestClient

from server.app import create_app
from tests.registry.test_registry import alias, frame, predicted, registered, train_all
from tests.support.graphql import ingest
from tests.transport.test_sql_statements import client, counted_statements  # noqa: F401 - client is the fixture that counts statements


def test_predict_by_alias_or_version_costs_the_statements_of_predict_by_id(client, token):  # noqa: F811 - the imported fixture, requested by name
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    (model_id,) = train_all(client, token, dataset["id"], ("RIDGE", {}))
    registered(client, token, model_id)
    alias(client, token, 1)
    expected = predicted(client, token, model_id)  # loads the model into this process's cache
    counts = {}
    for reference in (model_id, "churn@champion", "churn/1"):
        with counted_statements(client) as statements:
            assert predicted(client, token, reference) == expected
        counts[reference] = len(statements)
    assert counts["churn@champion"] == counts["churn/1"] == counts[model_id], counts


def test_an_alias_move_is_seen_by_another_replica_on_its_next_request(client, token, settings):  # noqa: F811 - the imported fixture, requested by name
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    linear, forest = train_all(client, token, dataset["id"], ("LINEAR_REGRESSION", {}), ("RANDOM_FOREST", {}))
    registered(client, token, linear)
    registered(client, token, forest)
    alias(client, token, 1)
    with TestClient(create_app(settings)) as replica:  # another server on the same database and storage
        assert predicted(replica, token, "churn@champion") == predicted(replica, token, linear)
        alias(client, token, 2)  # moved through the first replica
        assert predicted(replica, token, "churn@champion") == predicted(replica, token, forest)
