"""requirements.lock is what `make run`/`make test` install: every dependency pyproject.toml names is pinned
there with hashes, so adding one without `make lock` fails here rather than on a fresh machine."""

from __future__ import annotations

import re
import tomllib

from tests.support.paths import ROOT


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0])


def test_every_dependency_is_pinned_with_hashes_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {canonical(m.group(1)): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, re.MULTILINE)}
    assert sorted(wanted - set(pinned)) == []
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", lock)
    assert all("--hash=sha256:" in block for block in blocks if re.match(r"[A-Za-z0-9_.\-]+==", block))


def test_the_client_distribution_needs_no_more_than_the_server_ships() -> None:
    client = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]["dependencies"]
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {requirement_name(r) for r in client} <= {requirement_name(r) for r in server}
