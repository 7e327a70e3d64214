"""schema.graphql is what the code exports, and it uses the contract's names with the contract's types."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import parse, print_ast

from schema.root import create_schema
from tests.support.paths import ROOT

CONTRACT_CHECK = ROOT.parent / "shared" / "tools" / "contract_check.py"
CONTRACT_SNAPSHOT = Path(__file__).resolve().parent / "contract.graphql"


def test_checked_in_schema_matches_the_code():
    exported = create_schema().as_str().strip()
    checked_in = (ROOT / "schema.graphql").read_text().strip()
    assert exported == checked_in, "schema.graphql drifted: run `make schema` and commit it"


def test_schema_covers_the_contract():
    """Every contract name, with the contract's type, via the shared checker when it sits beside the repository."""
    if CONTRACT_CHECK.exists():
        result = subprocess.run(
            [sys.executable, str(CONTRACT_CHECK), str(ROOT / "schema.graphql")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    # A clean clone (CI) has no ../shared: the snapshot kept in tests/schema/ is checked instead.
    missing = contract_differences(CONTRACT_SNAPSHOT.read_text(), (ROOT / "schema.graphql").read_text())
    assert not missing, "schema.graphql lacks or changes contract names:\n" + "\n".join(missing)


def test_the_contract_snapshot_is_current():
    shared = ROOT.parent / "shared" / "contract.graphql"
    if not shared.exists():
        pytest.skip("../shared/contract.graphql is not present (a clean clone): the snapshot stands in for it")
    assert CONTRACT_SNAPSHOT.read_text() == shared.read_text(), "copy ../shared/contract.graphql to tests/schema/"


def contract_differences(contract_sdl: str, schema_sdl: str) -> list[str]:
    """Fields, arguments, input fields and enum values of the contract absent from the schema or typed otherwise."""

    def members(sdl: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for definition in parse(sdl).definitions:
            name = getattr(getattr(definition, "name", None), "value", None)
            if name is None:
                continue
            found[name] = type(definition).__name__.replace("ExtensionNode", "DefinitionNode")
            for field in getattr(definition, "fields", None) or []:
                found[f"{name}.{field.name.value}"] = print_ast(field.type)
                for argument in getattr(field, "arguments", None) or []:
                    found[f"{name}.{field.name.value}({argument.name.value})"] = print_ast(argument.type)
            for value in getattr(definition, "values", None) or []:
                found[f"{name}.{value.name.value}"] = "enum value"
        return found

    ours = members(schema_sdl)
    return [
        f"{key}: contract {kind}, schema {ours.get(key, 'missing')}"
        for key, kind in members(contract_sdl).items()
        if ours.get(key) != kind
    ]
