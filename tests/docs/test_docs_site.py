"""The documentation: the configuration reference matches `Settings`, the site builds strictly (no broken link,
no page left out of the nav), and the README stays a front door that links every page."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_reference_is_generated_from_settings():
    done = subprocess.run(
        [sys.executable, "scripts/write_config_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    from server.settings import Settings

    reference = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} needs a docstring: it is its line in docs/configuration.md"
        assert f"`ASSAY_{name.upper()}`" in reference


@pytest.mark.slow  # mkdocs builds the whole site (`make docs` does the same; CI runs both)
@pytest.mark.sqlite_only("builds files; no database involved")
def test_the_docs_site_builds_strictly(tmp_path):
    # mkdocs-material is in requirements.lock (the docs extra): a missing mkdocs is a broken install, not a skip
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or "mkdocs"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "configuration" / "index.html").exists()
    assert "ASSAY_JOB_MEMORY_MB" in (tmp_path / "site" / "configuration" / "index.html").read_text()


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", readme))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages - linked == set(), "pages the README does not link"
    assert linked - pages == set(), "README links to pages that do not exist"
    assert "make run" in readme and "make test" in readme
