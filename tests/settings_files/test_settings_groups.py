"""Settings come in groups with unchanged ASSAY_* names, and secrets never show: not in a repr, a log, or an answer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.settings import GROUPS, MailSettings, Settings
from tests.support.graphql import REGISTER
from tests.support.live_server import LiveServer
from tests.support.paths import ROOT

SECRETS = {
    "secret_key": "sekrit-signing-key-0123456789abcdef0123456789",
    "admin_password": "admin-pass-7f3a9",
    "smtp_password": "smtp-pass-c41d2",
    "metrics_token": "metrics-token-99e01",
}


@pytest.mark.sqlite_only("about reading settings, not about the database")
def test_secrets_are_hidden_in_repr_str_and_dumps_but_usable() -> None:
    settings = Settings(
        _env_file=None,
        **SECRETS,
        database_url="postgresql+asyncpg://assay:db-pass-5b2@db/assay",
        redis_url="redis://:redis-pass-8c1@cache:6379/0",
    )
    shown = repr(settings) + str(settings)
    for value in [*SECRETS.values(), "db-pass-5b2", "redis-pass-8c1"]:  # a URL's password too, in the repr
        assert value not in shown
    dumped = settings.model_dump_json() + repr(settings.model_dump())
    assert not any(value in dumped for value in SECRETS.values())
    assert "**********" in shown and "assay:***@db/assay" in repr(settings)
    assert settings.smtp_password is not None and settings.smtp_password.get_secret_value() == SECRETS["smtp_password"]
    assert settings.resolved_secret_key == SECRETS["secret_key"]
    # the real URL, to connect with
    assert settings.resolved_database_url == "postgresql+asyncpg://assay:db-pass-5b2@db/assay"


@pytest.mark.sqlite_only("about reading settings, not about the database")
def test_groups_read_the_same_variables_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("ASSAY_SMTP_PASSWORD", "from-the-environment")
    monkeypatch.setenv("ASSAY_JOB_MEMORY_MB", "512")
    # pydantic-settings' `_env_file` init argument is not in the generated signature
    alone, whole = MailSettings(_env_file=None), Settings(_env_file=None)  # type: ignore[call-arg]
    assert alone.smtp_host == whole.smtp_host == "mail.example.com" and whole.job_memory_mb == 512
    assert whole.smtp_password is not None and whole.smtp_password.get_secret_value() == "from-the-environment"
    # Every setting is in exactly one group, and Settings has them all.
    grouped = [name for group in GROUPS for name in group.model_fields]
    assert len(grouped) == len(set(grouped)) and set(grouped) == set(Settings.model_fields)
    # The names deployments use (compose.yaml, the Dockerfile) are still settings.
    deployment = (ROOT / "compose.yaml").read_text() + (ROOT / "Dockerfile").read_text()
    deployed = set(re.findall(r"ASSAY_([A-Z0-9_]+)", deployment))
    launcher_only = {"IMAGE", "PUBLISH_ADDRESS"}  # compose's own variables, not the server's
    assert {name.lower() for name in deployed - launcher_only} <= set(Settings.model_fields)


@pytest.mark.sqlite_only("about the generated reference, not about the database")
def test_the_reference_has_one_section_per_group_in_order() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    sections = re.split(r"^## ", reference, flags=re.MULTILINE)[1:]
    assert [section.splitlines()[0] for section in sections] == [group.section for group in GROUPS]
    for group, section in zip(GROUPS, sections, strict=False):
        assert re.findall(r"^\| `ASSAY_([A-Z0-9_]+)`", section, flags=re.MULTILINE) == [
            name.upper() for name in group.model_fields
        ]
    mail = sections[[group.section for group in GROUPS].index(MailSettings.section)]
    assert "`ASSAY_SMTP_PASSWORD` | unset |" in mail


@pytest.mark.slow  # a `python -m server` process for its own log output (docs/testing.md)
@pytest.mark.sqlite_only("about reading settings, not about the database")
def test_a_running_server_uses_secrets_without_logging_or_answering_them(tmp_path: Path) -> None:
    server = LiveServer(
        tmp_path / "data",
        ASSAY_LOG_LEVEL="DEBUG",
        ASSAY_ADMIN_EMAIL="root@example.com",
        ASSAY_ADMIN_PASSWORD=SECRETS["admin_password"],
        ASSAY_SMTP_PASSWORD=SECRETS["smtp_password"],
        ASSAY_SECRET_KEY=SECRETS["secret_key"],
        ASSAY_METRICS_TOKEN=SECRETS["metrics_token"],
    ).start()
    try:
        login = server.gql(
            """mutation($email: String!, $password: String!) {
            login(input: {email: $email, password: $password}) { accessToken user { role } errors { code } } }""",
            {"email": "root@example.com", "password": SECRETS["admin_password"]},
        )["data"]["login"]
        assert login["errors"] == [] and login["user"]["role"] == "ADMIN"  # the real password made the admin
        token = login["accessToken"]
        registered = server.gql(REGISTER, {"email": "someone@example.com", "password": "correct horse battery"})
        assert registered["data"]["register"]["errors"] == []
        system = server.gql("{ health { status } system { databaseUrl executor } }", token=token)
        assert system["data"]["system"]["executor"] == "local"
        answers = repr(login) + repr(registered) + repr(system)
    finally:
        server.terminate()
    logs = server.output()
    assert "someone@example.com" in logs  # without ASSAY_SMTP_HOST the verification mail went to the log
    for value in SECRETS.values():
        assert value not in logs and value not in answers


@pytest.mark.sqlite_only("about reading settings, not about the database")
def test_a_groups_settings_reach_its_service_under_the_options_names(tmp_path: Path) -> None:
    from services.analysis.options import AnalysisOptions
    from services.monitoring.service import MonitorConfig

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        monitor_window_minutes=5,
        monitor_flush_seconds=0.5,
        report_accent="teal",
        analysis_cv_folds=3,
        analysis_allowed_exts="csv",
    )
    monitor = MonitorConfig(data_dir=tmp_path, **settings.prefixed("monitor_"))
    assert (monitor.window_minutes, monitor.flush_seconds, monitor.reservoir_rows) == (5, 0.5, 500)
    assert settings.report_theme["accent"] == "teal" and settings.report_theme["font_family"].startswith("Helvetica")
    assert "logo_url" not in settings.report_theme  # no logo unless one is set
    with_logo = Settings(_env_file=None, report_logo_url="https://example.com/logo.png")  # type: ignore[call-arg]
    assert with_logo.report_theme["logo_url"] == "https://example.com/logo.png"
    defaults = AnalysisOptions(**settings.analysis_defaults)  # every option, none left out
    assert (defaults.cv_folds, defaults.allowed_exts) == (3, ["csv"])
    assert set(settings.analysis_defaults) == set(AnalysisOptions.model_fields)
