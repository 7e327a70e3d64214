"""Fetch GraphiQL's browser assets from npm at pinned versions into server/static/graphiql/vendor/.

The files are checked in, so a server installed from the repository serves GraphiQL with no network
and no Node.js. Run this script only to change a version: it downloads each package with
`npm pack` (the registry's signed tarball, checked against its integrity hash), copies the
UMD builds and the licence, and rewrites vendor/MANIFEST.json, which a test compares with the files.

    python scripts/fetch_graphiql_assets.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "server" / "static" / "graphiql" / "vendor"

# package -> (version, files inside the package to serve). React 18 is the last with UMD builds, and
# GraphiQL 3 the last line that runs on them without a bundler (GraphiQL 4+ ships ES modules only).
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "react": ("18.2.0", ["umd/react.production.min.js"]),
    "react-dom": ("18.2.0", ["umd/react-dom.production.min.js"]),
    "graphiql": ("3.8.3", ["graphiql.min.js", "graphiql.min.css"]),
    "@graphiql/plugin-explorer": ("1.0.2", ["dist/index.umd.js", "dist/style.css"]),
}
LICENCE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license")
# The explorer plugin's tarball has no licence file; its package.json says MIT and it lives in the
# graphql/graphiql monorepo, whose LICENSE ships in the graphiql package.
LICENCE_FROM = {"@graphiql/plugin-explorer": "graphiql"}


def folder_name(package: str, version: str) -> str:
    return f"{package.replace('/', '__').lstrip('@')}@{version}"


def npm_pack(spec: str, into: Path) -> tuple[Path, str]:
    """Download one package tarball; returns its path and the registry's integrity string."""
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(into)], check=True, capture_output=True, text=True
    ).stdout
    info = json.loads(out)[0]
    tarball = into / info["filename"]
    algorithm, _, expected = info["integrity"].partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        sys.exit(f"{spec}: the tarball does not match its integrity {info['integrity']}")
    return tarball, info["integrity"]


def main() -> None:
    shutil.rmtree(VENDOR, ignore_errors=True)
    manifest: dict[str, dict] = {}
    licences: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for package, (version, wanted) in PACKAGES.items():
            tarball, integrity = npm_pack(f"{package}@{version}", Path(scratch))
            target = VENDOR / folder_name(package, version)
            target.mkdir(parents=True)
            files: dict[str, str] = {}
            with tarfile.open(tarball) as archive:
                members = {member.name.removeprefix("package/"): member for member in archive.getmembers()}
                declared = json.load(archive.extractfile(members["package.json"]))["license"]  # type: ignore[arg-type]  # a regular file: extractfile() returns it
                contents = {
                    Path(name).name: archive.extractfile(members[name]).read()  # type: ignore[union-attr]  # a regular file: extractfile() returns it
                    for name in wanted
                }
                licence = next((name for name in LICENCE_NAMES if name in members), None)
                if licence is not None:
                    licences[package] = archive.extractfile(members[licence]).read()  # type: ignore[union-attr]  # a regular file: extractfile() returns it
                elif package in LICENCE_FROM:
                    source = LICENCE_FROM[package]
                    licences[package] = (
                        f"{package}@{version} declares the {declared} licence in its package.json and "
                        f"ships no licence file; this is the text {source}@{PACKAGES[source][0]} "
                        f"ships from the same repository.\n\n"
                    ).encode() + licences[source]
                else:
                    sys.exit(f"{package}@{version} ships no licence file")
                contents["LICENSE"] = licences[package]
            for name, data in contents.items():
                (target / name).write_bytes(data)
                files[f"{target.name}/{name}"] = hashlib.sha256(data).hexdigest()
            manifest[package] = {"version": version, "license": declared, "integrity": integrity, "files": files}
            print(f"{package}@{version}: {', '.join(files)}")
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
