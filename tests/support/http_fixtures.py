"""A local HTTP server answering GET from a route table, for tests that need a site or an API to fetch.

Each route is `path -> function(request) -> (status, headers, body)`, so a fake endpoint is one
function and one line in the table; an unknown path gets the server's `fallback` (404 by default).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Response]
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: Message
    hit: int  # how often this path has been asked for on this server, this request included

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]


def json_reply(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return status, {**JSON, **(headers or {})}, json.dumps(value).encode()


def text_reply(body: str | bytes, content_type: str, status: int = 200) -> Response:
    return status, {"content-type": content_type}, body.encode() if isinstance(body, str) else body


def not_found(request: Request) -> Response:
    return 404, JSON, b"{}"


class RouteServer:
    """`with RouteServer(routes) as url:` serves the table on 127.0.0.1 and a free port until the block ends."""

    def __init__(self, routes: Mapping[str, Route], fallback: Route = not_found) -> None:
        self.routes = dict(routes)
        self.fallback = fallback
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, raw_path: str, headers: Message) -> Response:
        url = urlsplit(raw_path)
        with self._lock:  # the server is threaded: counts must not race
            self.hits[url.path] += 1
            hit = self.hits[url.path]
        request = Request(url.path, parse_qs(url.query), headers, hit)
        return self.routes.get(url.path, self.fallback)(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                status, headers, body = server.answer(self.path, self.headers)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def serve(routes: Mapping[str, Route], fallback: Route = not_found) -> Iterator[str]:
    """For a fixture: `yield from serve(ROUTES)` gives the base URL and stops the server afterwards."""
    with RouteServer(routes, fallback) as url:
        yield url
