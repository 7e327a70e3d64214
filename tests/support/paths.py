"""Where the repository and the tests' data live, so a test module can move between packages freely."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent  # the repo: Dockerfile, pyproject.toml, compose.yaml and the packages
CORPUS = TESTS / "corpus"  # messy CSVs, one per ingest problem
JS_DIR = TESTS / "js"  # the pinned JS tooling the client tests run
