"""Migration 0011 (the maintenance schedule row) upgrades and downgrades on both databases."""

from __future__ import annotations

from services.storage import db
from tests.registry.test_migration import tables
from tests.support.settings import make_settings, run_sql

BEFORE_MAINTENANCE = "9e1a3c5b7d20"  # 0010 (registry)


def test_the_maintenance_schedule_comes_and_goes_with_0011(tmp_path):
    settings = make_settings(tmp_path)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    db.migrate(settings.resolved_database_url)
    assert "maintenance_schedule" in tables(settings)
    run_sql(settings, "INSERT INTO maintenance_schedule (name, next_run_at) VALUES ('cleanup', CURRENT_TIMESTAMP)")
    db.downgrade(settings.resolved_database_url, BEFORE_MAINTENANCE)
    assert "maintenance_schedule" not in tables(settings) and "registered_model" in tables(settings)
    db.migrate(settings.resolved_database_url)
    assert run_sql(settings, "SELECT count(*) FROM maintenance_schedule") == [(0,)]
