"""Accounts end to end: register, login, refresh rotation and replay, anonymous refusal, admin bootstrap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from starlette.testclient import TestClient

from server.app import create_app
from services.system import redacted_url
from tests.support.graphql import REGISTER, gql, register
from tests.support.settings import make_settings, run_sql

LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  accessToken refreshToken user { email role } errors { code message field } } }"""
REFRESH = """mutation($t: String!) { refreshToken(input: {refreshToken: $t}) {
  accessToken refreshToken errors { code message } } }"""
ME = "{ me { id email role createdAt } }"


def test_register_login_and_me(client):
    registered = register(client, "Ann@Example.com")
    assert registered["user"]["email"] == "ann@example.com" and registered["user"]["role"] == "MEMBER"
    logged_in = gql(client, LOGIN, {"email": "ann@example.com", "password": "correct horse battery"})["data"]["login"]
    assert logged_in["errors"] == []
    me = gql(client, ME, token=logged_in["accessToken"])["data"]["me"]
    assert me["email"] == "ann@example.com" and me["id"] == registered["user"]["id"]


def test_password_is_stored_as_argon2id(client, settings):
    register(client, "hash@example.com", "a secret password")
    stored = run_sql(settings, 'select password_hash from "user" where email = :email', email="hash@example.com")[0][0]
    assert stored.startswith("$argon2id$") and "a secret password" not in stored


def test_registration_errors(client):
    register(client, "dup@example.com")
    duplicate = gql(client, REGISTER, {"email": "dup@example.com", "password": "another password"})["data"]["register"]
    assert duplicate["errors"][0]["code"] == "CONFLICT" and duplicate["accessToken"] is None
    short = gql(client, REGISTER, {"email": "x@example.com", "password": "short"})["data"]["register"]
    assert short["errors"][0] == {
        "code": "INVALID_INPUT",
        "message": short["errors"][0]["message"],
        "field": ["password"],
    }
    bad_email = gql(client, REGISTER, {"email": "not-an-email", "password": "long enough pw"})["data"]["register"]
    assert bad_email["errors"][0]["field"] == ["email"]


def test_unknown_email_and_wrong_password_look_the_same(client):
    register(client, "known@example.com")
    unknown = gql(client, LOGIN, {"email": "nobody@example.com", "password": "whatever pw"})["data"]["login"]
    wrong = gql(client, LOGIN, {"email": "known@example.com", "password": "wrong password"})["data"]["login"]
    assert unknown == wrong
    assert wrong["errors"][0]["code"] == "UNAUTHENTICATED" and wrong["accessToken"] is None


def test_refresh_rotates_and_replay_revokes_the_family(client):
    first = register(client)
    second = gql(client, REFRESH, {"t": first["refreshToken"]})["data"]["refreshToken"]
    assert second["errors"] == [] and second["refreshToken"] != first["refreshToken"]
    assert gql(client, ME, token=second["accessToken"])["data"]["me"] is not None
    replay = gql(client, REFRESH, {"t": first["refreshToken"]})["data"]["refreshToken"]
    assert replay["errors"][0]["code"] == "UNAUTHENTICATED" and replay["accessToken"] is None
    # The replay revoked the whole family: the newest token of this login is dead too.
    after = gql(client, REFRESH, {"t": second["refreshToken"]})["data"]["refreshToken"]
    assert after["errors"][0]["code"] == "UNAUTHENTICATED"


def test_garbage_refresh_token(client):
    payload = gql(client, REFRESH, {"t": "not-a-token"})["data"]["refreshToken"]
    assert payload["errors"][0]["code"] == "UNAUTHENTICATED"


def test_anonymous_access_is_refused_with_a_code(client):
    result = gql(client, "{ datasets { totalCount } }")
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for query in (
        "{ me { id } }",
        '{ dataset(id: "x") { id } }',
        '{ node(id: "x") { id } }',
        "{ jobs { totalCount } }",
    ):
        assert gql(client, query)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", query
    mutation = gql(client, 'mutation { deleteDataset(input: {id: "x"}) { deletedId } }')
    assert mutation["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert gql(client, "{ health { status } }")["data"]["health"]["status"] == "ok"


def test_tampered_expired_and_foreign_tokens_are_anonymous(client, settings):
    registered = register(client)
    user_id = jwt.decode(registered["accessToken"], options={"verify_signature": False})["sub"]
    now = datetime.now(UTC)
    base = {"sub": user_id, "iss": "assay", "aud": "assay-api", "typ": "access", "iat": now}
    expired = jwt.encode({**base, "exp": now - timedelta(seconds=1)}, settings.resolved_secret_key, algorithm="HS256")
    forged = jwt.encode(
        {**base, "exp": now + timedelta(minutes=5)}, "another-secret-key-of-enough-length!!", algorithm="HS256"
    )
    wrong_audience = jwt.encode(
        {**base, "aud": "other", "exp": now + timedelta(minutes=5)}, settings.resolved_secret_key, algorithm="HS256"
    )
    unsigned = jwt.encode({**base, "exp": now + timedelta(minutes=5)}, None, algorithm="none")
    for token in (expired, forged, wrong_audience, unsigned, registered["refreshToken"]):
        assert gql(client, ME, token=token)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_access_tokens_expire_in_fifteen_minutes(client):
    claims = jwt.decode(register(client)["accessToken"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 15 * 60 and claims["iss"] == "assay" and claims["aud"] == "assay-api"


def test_admin_is_created_from_settings_and_sees_system(tmp_path):
    settings = make_settings(tmp_path, admin_email="root@example.com", admin_password="admin password 1")
    with TestClient(create_app(settings)) as client:
        admin = gql(client, LOGIN, {"email": "root@example.com", "password": "admin password 1"})["data"]["login"]
        assert admin["user"]["role"] == "ADMIN"
        system = gql(
            client,
            "{ system { workers queuedJobs databaseUrl counts uptimeSeconds activeJobs { id } } }",
            token=admin["accessToken"],
        )["data"]["system"]
        assert system["workers"] == 2 and system["counts"]["user"] == 1
        assert system["databaseUrl"] == redacted_url(settings.resolved_database_url)
        member = register(client)
        denied = gql(client, "{ system { workers } }", token=member["accessToken"])
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_closed_registration(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, open_registration=False))) as client:
        payload = gql(client, REGISTER, {"email": "a@example.com", "password": "long enough pw"})["data"]["register"]
        assert payload["errors"][0]["code"] == "FORBIDDEN"


def test_failed_logins_are_rate_limited_per_account(client):
    register(client, "target@example.com")
    for _ in range(5):
        gql(client, LOGIN, {"email": "target@example.com", "password": "wrong guess"})
    blocked = gql(client, LOGIN, {"email": "target@example.com", "password": "correct horse battery"})["data"]["login"]
    assert blocked["errors"][0]["code"] == "RATE_LIMITED" and blocked["accessToken"] is None


def test_failed_logins_are_rate_limited_per_address(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, login_failures_per_address=3))) as client:
        register(client, "someone@example.com")
        for index in range(3):
            gql(client, LOGIN, {"email": f"guess{index}@example.com", "password": "wrong guess"})
        blocked = gql(client, LOGIN, {"email": "someone@example.com", "password": "correct horse battery"})["data"][
            "login"
        ]
        assert blocked["errors"][0]["code"] == "RATE_LIMITED"
