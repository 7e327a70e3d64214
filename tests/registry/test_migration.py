"""Migration 0010 (the registry's tables) upgrades and downgrades on both databases, with rows in them."""

from __future__ import annotations

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from services.storage import db
from tests.support.graphql import gql, register
from tests.support.settings import make_settings, run_sql

BEFORE_REGISTRY = "6d8e035bb675"  # 0009 (accounts)
REGISTRY_TABLES = {"registered_model", "model_version", "model_alias", "registry_event"}
TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}
A_NAME = (
    "INSERT INTO registered_model (id, created_at, updated_at, owner_id, name, description, tags, latest_version) "
    "VALUES ('r1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :owner, 'churn', '', '[]', 0)"
)
AN_EVENT = (
    "INSERT INTO registry_event (id, created_at, updated_at, registered_model_id, owner_id, kind) "
    "VALUES ('e1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'r1', :owner, 'REGISTERED')"
)


def tables(settings) -> set[str]:
    return {row[0] for row in run_sql(settings, TABLES)}


def test_the_registry_tables_come_and_go_with_0010(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:  # start-up migrates to head
        token = register(client)["accessToken"]
        owner = raw_id(gql(client, "{ me { id } }", token=token)["data"]["me"]["id"], "User")
    assert tables(settings) >= REGISTRY_TABLES
    run_sql(settings, A_NAME, owner=owner)
    run_sql(settings, AN_EVENT, owner=owner)

    db.downgrade(settings.resolved_database_url, BEFORE_REGISTRY)
    assert not REGISTRY_TABLES & tables(settings) and "model" in tables(settings)
    db.migrate(settings.resolved_database_url)
    assert tables(settings) >= REGISTRY_TABLES
    with TestClient(create_app(settings)) as client:
        shown = gql(client, "{ registeredModels { totalCount } }", token=token)
        assert shown["data"] == {"registeredModels": {"totalCount": 0}}
