"""schema.graphql is what the code exports, and it uses the contract's names with the contract's types."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from schema import create_schema

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_CHECK = ROOT.parent / "shared" / "tools" / "contract_check.py"


def test_checked_in_schema_matches_the_code():
    exported = create_schema().as_str().strip()
    checked_in = (ROOT / "schema.graphql").read_text().strip()
    assert exported == checked_in, "schema.graphql drifted: run `make schema` and commit it"


def test_no_name_differs_from_the_contract():
    """Every contract name we define has the contract's type; names of later issues may still be missing."""
    if not CONTRACT_CHECK.exists():  # the shared tools live beside the repository on developer machines
        import pytest
        pytest.skip("../shared/tools/contract_check.py is not present")
    result = subprocess.run([sys.executable, str(CONTRACT_CHECK), str(ROOT / "schema.graphql")],
                            capture_output=True, text=True)
    assert "differ from the contract" not in result.stdout, result.stdout
    assert result.returncode in (0, 1), result.stderr
