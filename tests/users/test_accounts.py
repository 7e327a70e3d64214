"""Accounts as seed 002 describes them: email verification through a real SMTP server, login history,
sessions, password and email changes, and what admins do to accounts — all through /graphql."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, register
from tests.support.settings import make_settings
from tests.support.smtp import SmtpServer

PASSWORD = "correct horse battery"
ME = "{ me { email emailVerified lastLoginAt disabled role } }"
LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  accessToken refreshToken errors { code message } } }"""
REFRESH = """mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { accessToken errors { code } } }"""
VERIFY = """mutation($t: String!) { verifyEmail(input: {token: $t}) { user { email emailVerified }
  errors { code field } } }"""
SESSIONS = "{ mySessions { id current userAgent address } }"
HISTORY = "{ loginHistory(first: 10) { totalCount edges { node { success reason userAgent address } } } }"


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path)
    yield server
    server.stop()


def mail_settings(tmp_path, smtp: SmtpServer, **overrides):
    return make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="assay@example.com",
        public_url="https://assay.example.com",
        **overrides,
    )


def token_in(mail) -> str:
    return re.search(r"token \(valid for \d+ hours\):\s+(\S+)", mail.get_payload(decode=True).decode()).group(1)


def login(client, email, password=PASSWORD, agent="pytest-browser/1.0"):
    return gql(client, LOGIN, {"email": email, "password": password}, headers={"user-agent": agent})["data"]["login"]


def test_registration_mails_a_verification_token_that_verifies_the_address(tmp_path, smtp):
    with TestClient(create_app(mail_settings(tmp_path, smtp))) as client:
        user = register(client, "new@example.com")
        assert gql(client, ME, token=user["accessToken"])["data"]["me"]["emailVerified"] is False
        [mail] = smtp.mail_to("new@example.com")
        assert mail["From"] == "assay@example.com" and "Confirm" in mail["Subject"]
        assert "https://assay.example.com" in mail.get_payload(decode=True).decode()
        forged = gql(client, VERIFY, {"t": token_in(mail)[:-4] + "abcd"})["data"]["verifyEmail"]
        assert forged["errors"][0]["code"] == "INVALID_INPUT" and forged["errors"][0]["field"] == ["token"]
        verified = gql(client, VERIFY, {"t": token_in(mail)})["data"]["verifyEmail"]
        assert verified == {"user": {"email": "new@example.com", "emailVerified": True}, "errors": []}
        assert gql(client, ME, token=user["accessToken"])["data"]["me"]["emailVerified"] is True


def test_unverified_accounts_are_limited_when_the_setting_says_so(tmp_path, smtp):
    with TestClient(create_app(mail_settings(tmp_path, smtp, require_verified_email=True))) as client:
        token = register(client, "limited@example.com")["accessToken"]
        refused = gql(client, "{ datasets { totalCount } }", token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert gql(client, ME, token=token)["data"]["me"]["email"] == "limited@example.com"  # may manage itself
        gql(client, "mutation { resendVerificationEmail { errors { code } } }", token=token)
        mails = smtp.mail_to("limited@example.com", count=2)
        gql(client, VERIFY, {"t": token_in(mails[-1])})
        assert gql(client, "{ datasets { totalCount } }", token=token)["data"]["datasets"]["totalCount"] == 0


def test_without_smtp_the_mail_is_logged_and_registration_works(client, caplog):
    caplog.set_level("INFO", logger="assay.accounts")
    register(client, "nomail@example.com")
    for _ in range(50):
        if "nomail@example.com" in caplog.text:
            break
        import time

        time.sleep(0.1)
    assert "No ASSAY_SMTP_HOST" in caplog.text and "verifyEmail" in caplog.text


def test_logins_are_tracked_in_the_accounts_own_history(client):
    email = "tracked@example.com"
    token = register(client, email)["accessToken"]
    assert login(client, email, "wrong password!")["errors"][0]["code"] == "UNAUTHENTICATED"
    ok = login(client, email)
    assert ok["errors"] == []
    history = gql(client, HISTORY, token=ok["accessToken"])["data"]["loginHistory"]
    assert history["totalCount"] == 2
    newest, oldest = [edge["node"] for edge in history["edges"]]
    assert newest == {"success": True, "reason": None, "userAgent": "pytest-browser/1.0", "address": "testclient"}
    assert oldest["success"] is False and oldest["reason"] == "WRONG_PASSWORD"
    assert gql(client, ME, token=token)["data"]["me"]["lastLoginAt"] is not None
    stranger = register(client)["accessToken"]
    assert gql(client, HISTORY, token=stranger)["data"]["loginHistory"]["totalCount"] == 0


def test_sessions_are_listed_and_revoked_one_by_one(client):
    email = "sessions@example.com"
    first = register(client, email)
    laptop, phone = login(client, email, agent="laptop"), login(client, email, agent="phone")
    sessions = gql(client, SESSIONS, token=laptop["accessToken"])["data"]["mySessions"]
    assert len(sessions) == 3 and [s["current"] for s in sessions].count(True) == 1
    assert next(s for s in sessions if s["current"])["userAgent"] == "laptop"
    phone_session = next(s for s in sessions if s["userAgent"] == "phone")["id"]
    revoked = gql(
        client,
        "mutation($id: ID!) { revokeSession(input: {id: $id}) { revoked errors { code } } }",
        {"id": phone_session},
        laptop["accessToken"],
    )["data"]["revokeSession"]
    assert revoked == {"revoked": 1, "errors": []}
    assert (
        gql(client, REFRESH, {"t": phone["refreshToken"]})["data"]["refreshToken"]["errors"][0]["code"]
        == "UNAUTHENTICATED"
    )
    assert gql(client, REFRESH, {"t": laptop["refreshToken"]})["data"]["refreshToken"]["errors"] == []
    out = gql(
        client,
        "mutation($t: String) { logout(input: {refreshToken: $t}) { revoked errors { code } } }",
        {"t": first["refreshToken"]},
        laptop["accessToken"],
    )["data"]["logout"]
    assert out == {"revoked": 1, "errors": []}
    assert len(gql(client, SESSIONS, token=laptop["accessToken"])["data"]["mySessions"]) == 1
    other = register(client)["accessToken"]  # another user's session id is not found
    foreign = gql(
        client,
        "mutation($id: ID!) { revokeSession(input: {id: $id}) { errors { code } } }",
        {"id": phone_session},
        other,
    )["data"]["revokeSession"]
    assert foreign["errors"][0]["code"] == "NOT_FOUND"


def test_changing_the_password_ends_every_other_session_at_once(client):
    email = "rotate@example.com"
    old = register(client, email)
    elsewhere = login(client, email)
    change = """mutation($c: String!, $n: String!) { changePassword(input: {currentPassword: $c, newPassword: $n}) {
      accessToken refreshToken errors { code field } } }"""
    wrong = gql(client, change, {"c": "not it at all", "n": "a brand new password"}, old["accessToken"])
    assert wrong["data"]["changePassword"]["errors"] == [{"code": "UNAUTHENTICATED", "field": ["currentPassword"]}]
    short = gql(client, change, {"c": PASSWORD, "n": "short"}, old["accessToken"])["data"]["changePassword"]
    assert short["errors"] == [{"code": "INVALID_INPUT", "field": ["newPassword"]}]
    changed = gql(client, change, {"c": PASSWORD, "n": "a brand new password"}, old["accessToken"])["data"][
        "changePassword"
    ]
    assert changed["errors"] == []
    for stale in (old["accessToken"], elsewhere["accessToken"]):  # access tokens from before stop now
        assert gql(client, ME, token=stale)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (
        gql(client, REFRESH, {"t": elsewhere["refreshToken"]})["data"]["refreshToken"]["errors"][0]["code"]
        == "UNAUTHENTICATED"
    )
    assert gql(client, ME, token=changed["accessToken"])["data"]["me"]["email"] == email
    assert login(client, email)["errors"][0]["code"] == "UNAUTHENTICATED"
    assert login(client, email, "a brand new password")["errors"] == []


def test_changing_the_email_needs_the_password_and_a_new_verification(tmp_path, smtp):
    with TestClient(create_app(mail_settings(tmp_path, smtp))) as client:
        token = register(client, "before@example.com")["accessToken"]
        gql(client, VERIFY, {"t": token_in(smtp.mail_to("before@example.com")[0])})
        register(client, "taken@example.com")
        change = """mutation($p: String!, $e: String!) { changeEmail(input: {password: $p, newEmail: $e}) {
          user { email emailVerified } errors { code field } } }"""
        assert gql(client, change, {"p": "wrong password", "e": "after@example.com"}, token)["data"]["changeEmail"][
            "errors"
        ] == [{"code": "UNAUTHENTICATED", "field": ["password"]}]
        assert gql(client, change, {"p": PASSWORD, "e": "taken@example.com"}, token)["data"]["changeEmail"][
            "errors"
        ] == [{"code": "CONFLICT", "field": ["newEmail"]}]
        changed = gql(client, change, {"p": PASSWORD, "e": "After@Example.com"}, token)["data"]["changeEmail"]
        assert changed == {"user": {"email": "after@example.com", "emailVerified": False}, "errors": []}
        old_link = token_in(smtp.mail_to("before@example.com")[0])  # a link to the old address no longer verifies
        assert gql(client, VERIFY, {"t": old_link})["data"]["verifyEmail"]["errors"][0]["code"] == "INVALID_INPUT"
        assert (
            gql(client, VERIFY, {"t": token_in(smtp.mail_to("after@example.com")[0])})["data"]["verifyEmail"]["user"][
                "emailVerified"
            ]
            is True
        )


def test_admins_list_accounts_change_roles_and_disable_on_every_replica_at_once(tmp_path):
    settings = make_settings(tmp_path, admin_email="root@example.com", admin_password="the admin password")
    with TestClient(create_app(settings)) as replica_a, TestClient(create_app(settings)) as replica_b:
        admin = login(replica_a, "root@example.com", "the admin password")["accessToken"]
        member = register(replica_a, "member@example.com")
        member_id = gql(replica_a, "{ me { id } }", token=member["accessToken"])["data"]["me"]["id"]
        users = gql(replica_a, '{ users(search: "member") { totalCount edges { node { email role } } } }', token=admin)
        assert users["data"]["users"] == {
            "totalCount": 1,
            "edges": [{"node": {"email": "member@example.com", "role": "MEMBER"}}],
        }
        assert (
            gql(replica_a, "{ users { totalCount } }", token=member["accessToken"])["errors"][0]["extensions"]["code"]
            == "FORBIDDEN"
        )
        role = """mutation($id: ID!) { setUserRole(input: {userId: $id, role: ADMIN}) { user { role } errors {
        code } } }"""
        assert gql(replica_a, role, {"id": member_id}, admin)["data"]["setUserRole"]["user"]["role"] == "ADMIN"
        disable = """mutation($id: ID!, $d: Boolean!) { setUserDisabled(input: {userId: $id, disabled: $d}) {
          user { disabled } errors { code field } } }"""
        assert gql(replica_a, disable, {"id": member_id, "d": True}, admin)["data"]["setUserDisabled"]["user"] == {
            "disabled": True
        }
        # The other replica refuses the disabled account's token at its next request.
        assert gql(replica_b, ME, token=member["accessToken"])["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert login(replica_b, "member@example.com")["errors"][0]["code"] == "FORBIDDEN"
        assert (
            gql(replica_b, REFRESH, {"t": member["refreshToken"]})["data"]["refreshToken"]["errors"][0]["code"]
            == "UNAUTHENTICATED"
        )
        admin_id = gql(replica_a, "{ me { id } }", token=admin)["data"]["me"]["id"]
        myself = gql(replica_a, disable, {"id": admin_id, "d": True}, admin)["data"]["setUserDisabled"]
        assert myself["errors"] == [{"code": "INVALID_INPUT", "field": ["userId"]}]
        gql(replica_a, disable, {"id": member_id, "d": False}, admin)
        assert login(replica_b, "member@example.com")["errors"] == []
