"""The GraphiQL page, served with every asset from this server (server/static/graphiql).

The vendored files come from npm at the versions in vendor/MANIFEST.json (scripts/fetch_graphiql_assets.py).
A Content-Security-Policy allows nothing but this origin, so the page can never reach a CDN.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
ASSET_PREFIX = "/graphiql"
PLACEHOLDER = re.compile(r"\{([\w.@-]+?)(:sri)?\}")
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def vendored_files() -> dict[str, str]:
    """File name -> path under vendor/, for every file MANIFEST.json lists."""
    manifest = json.loads((STATIC_DIR / "vendor" / "MANIFEST.json").read_text())
    return {Path(path).name: path for package in manifest.values() for path in package["files"]}


@lru_cache(maxsize=1)
def graphiql_html() -> str:
    files = vendored_files()

    def fill(match: re.Match[str]) -> str:
        relative = files[match.group(1)]
        if match.group(2):
            digest = hashlib.sha384((STATIC_DIR / "vendor" / relative).read_bytes()).digest()
            return "sha384-" + base64.b64encode(digest).decode()
        return f"{ASSET_PREFIX}/vendor/{relative}"

    return PLACEHOLDER.sub(fill, (STATIC_DIR.parent / "graphiql.html").read_text())


def graphiql_page() -> HTMLResponse:
    return HTMLResponse(graphiql_html(), headers={"Content-Security-Policy": POLICY, "Referrer-Policy": "no-referrer"})
