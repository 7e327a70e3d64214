"""The APIs and pages the pipeline tests fetch, as one route table (see tests/support/http_fixtures.py).

To add an endpoint: write `def name(request) -> Response` and add `"/path": name` to ROUTES.
"""

from __future__ import annotations

import gzip
import time
from typing import Any

from tests.support.http_fixtures import JSON, Request, Response, json_reply, text_reply

# (when, User-Agent, Cookie) of each request to the routes that record who asked: the scraping tests
# check the polite delay and the User-Agent sent. Tests clear it before they look.
SEEN: list[tuple[float, str | None, str | None]] = []

MEMBERS_COOKIE = "session=members-only-cookie"  # the sign-in /members.html asks for

CAFE_PAGE = "<ul><li class=r>Café crème</li><li class=r>€ 3,50</li></ul>"
JAPANESE_PAGE = "<ul><li class=r>東京</li><li class=r>大阪</li></ul>"


def items(request: Request) -> Response:  # nested records over 4 pages, linked by "next"
    page = int(request.param("page", "1"))
    records = [
        {
            "id": page * 10 + i,
            "user": {"name": f"u{page}{i}", "address": {"city": "Oslo" if i % 2 else "Rome"}},
            "score": i * 1.5,
        }
        for i in range(3)
    ]
    return json_reply({"data": {"items": records}, "next": f"/api/items?page={page + 1}" if page < 4 else None})


def mixed(request: Request) -> Response:  # records with uneven keys, text numbers and null tokens
    return json_reply(
        [
            {"id": 1, "tags": ["a", "b"], "when": "2024-01-05", "n": "3.5", "flag": True, "label": "x"},
            {"id": 2, "extra": {"x": 1}, "when": "2024-02-01", "n": "NA", "flag": False, "label": "NA"},
        ]
    )


def gappy(request: Request) -> Response:  # page 2 of 3 is empty
    page = int(request.param("page", "1"))
    records = [] if page == 2 else [{"id": page, "name": f"p{page}"}]
    return json_reply({"items": records, "next": f"/api/gappy?page={page + 1}" if page < 3 else None})


def flaky(request: Request) -> Response:  # every other request is a 503
    return (503, JSON, b"busy") if request.hit % 2 == 1 else json_reply([{"a": 1}, {"a": 2}])


def limited(request: Request) -> Response:  # every other request is a 429 with Retry-After
    return (429, {**JSON, "Retry-After": "1"}, b"slow down") if request.hit % 2 == 1 else json_reply([{"a": 1}])


def auth(request: Request) -> Response:
    ok = request.headers.get("authorization") == "Bearer sekret-token-123456"
    return json_reply([{"ok": ok}], 200 if ok else 401)


CATALOG_VERSIONS = {
    1: [{"sku": "a", "size": 1, "price": 1.5}, {"sku": "b", "size": 1, "price": 2.0}],
    2: [
        {"sku": "b", "size": 1, "price": 2.5, "stock": 3},
        {"sku": "c", "size": 2, "price": 9.0, "stock": 1},
        {"sku": "c", "size": 2, "price": 8.0, "stock": 0},
    ],
    3: [{"sku": "d", "size": 1, "price": 1.0}, {"sku": None, "size": 1, "price": 1.0}],
}


def catalog(request: Request) -> Response:  # the catalogue as it stands at "version" ?v=
    return json_reply(CATALOG_VERSIONS[int(request.param("v", "1"))])


def orders(request: Request) -> Response:  # one of everything a check should catch
    return json_reply(
        [
            {"id": 1, "email": "a@x.org", "amount": 10.0, "status": "paid"},
            {"id": 2, "email": "b@x.org", "amount": -5.0, "status": "paid"},
            {"id": 2, "email": None, "amount": 7.5, "status": "lost"},
            {"id": 4, "email": "not an email", "amount": 1e6, "status": "refunded"},
        ]
    )


def prices_export(request: Request) -> Response:  # a CSV export as an open-data portal serves it
    body = "Datum;Artikel;Preis\n05.01.2024;Äpfel;1,25\n06.01.2024;Birnen;2,50\n".encode("cp1252")
    return text_reply(body, "text/csv; charset=windows-1252")


def raw_gzip(request: Request) -> Response:  # served as bytes: the URL says what it is
    return text_reply(gzip.compress(b"sku,qty\na,1\nb,2\nc,3\n"), "application/octet-stream")


def download(request: Request) -> Response:  # neither type nor name says CSV: format: CSV does
    return text_reply(b"id,when\n1,2024-01-05\n2,2024-02-01\n", "text/plain")


def members(request: Request) -> Response:  # a page behind a cookie, that records who asked and when
    SEEN.append((time.monotonic(), request.headers.get("user-agent"), request.headers.get("cookie")))
    page = int(request.param("page", "1"))
    if request.headers.get("cookie") != MEMBERS_COOKIE:
        return text_reply(b"<p>sign in</p>", "text/html", 403)
    following = f'<a class="next" href="?page={page + 1}">next</a>' if page < 3 else ""
    return text_reply(f'<p class="m">member {page}</p>{following}', "text/html")


def who(request: Request) -> Response:
    SEEN.append((time.monotonic(), request.headers.get("user-agent"), None))
    return json_reply([{"a": 1}])


NUMBERS = [{"n": n} for n in range(1, 6)]


def paged_numbers(request: Request) -> Response:  # ?page=N&per_page=2 over 5 records; pages past the end are empty
    page, per_page = int(request.query["page"][0]), int(request.query["per_page"][0])
    return json_reply({"items": NUMBERS[(page - 1) * per_page : page * per_page]})


def paged_offsets(request: Request) -> Response:  # ?offset=N: at most 2 records from there, a bare list
    offset = int(request.query["offset"][0])
    return json_reply(NUMBERS[offset : offset + 2])


def paged_cursor(request: Request) -> Response:  # an opaque cursor in meta.next; the last page has none
    if request.query.get("token") != ["t1"]:  # the configured params must come with every page
        return 401, JSON, b"{}"
    position = {"": 0, "c2": 2, "c4": 4}[request.param("after", "")]
    following = {0: "c2", 2: "c4"}.get(position)
    return json_reply(
        {"data": NUMBERS[position : position + 2], "meta": {"next": following, "token": request.param("token")}}
    )


def to_private(request: Request) -> Response:  # a redirect to the cloud metadata address
    return 302, {**JSON, "Location": "http://10.255.255.1/latest/meta-data"}, b""


def shop_list(request: Request) -> Response:
    rows = "".join(
        f'<li class="item"><a href="../p/{i}.html">Item {i}</a><span class="price">{i * 2}.50</span>'
        f'<img src="/img/{i}.png"></li>'
        for i in range(1, 6)
    )
    return text_reply(f"<html><body><ul>{rows}</ul><li>not an item</li></body></html>", "text/html")


def catalog_page(request: Request) -> Response:  # 4 pages, relative next links of three kinds
    page = int(request.path.removeprefix("/catalog/page").removesuffix(".html"))
    rows = "".join(f'<tr class="row"><td>{page}-{i}</td></tr>' for i in range(3))
    following = {1: "page2.html", 2: "./page3.html", 3: "/catalog/page4.html"}.get(page)
    link = f'<a class="next" href="{following}">next</a>' if following else '<span class="next">end</span>'
    return text_reply(f"<html><body><table>{rows}</table>{link}</body></html>", "text/html")


def loop_page(request: Request) -> Response:  # b links back to a
    following = "b.html" if request.path.endswith("a.html") else "a.html"
    return text_reply(f'<p class="r">{request.path}</p><a rel="next" href="{following}">more</a>', "text/html")


def charset_in_header(request: Request) -> Response:  # the charset named only by the response
    return text_reply(CAFE_PAGE.encode("cp1252"), "text/html; charset=windows-1252")


def charset_in_meta(request: Request) -> Response:  # named only by the page itself
    return text_reply(('<meta charset="iso-8859-1">' + CAFE_PAGE).encode("cp1252"), "text/html")


def charset_bogus(request: Request) -> Response:  # a charset label that is no text encoding: the page's meta decides
    return text_reply(('<meta charset="shift_jis">' + JAPANESE_PAGE).encode("shift_jis"), "text/html; charset=base64")


def charset_unnamed(request: Request) -> Response:
    return text_reply(CAFE_PAGE, "text/html")


# Sources reading the pages above, as a pipeline's `source` input names them: `settings` add to or replace theirs.


def items_api(base_url: str, **settings: Any) -> dict:
    """/api/items: its records under data.items, four pages linked by the `next` of each."""
    return {"http": {"url": f"{base_url}/api/items", "recordsPath": "data.items", "nextPagePath": "next", **settings}}


def shop_scrape(base_url: str, fields: list[dict]) -> dict:
    """/shop/list.html's five items (li.item, the page's other <li> is none), read into `fields`."""
    return {"scrape": {"url": f"{base_url}/shop/list.html", "rowSelector": "li.item", "fields": fields}}


def members_scrape(base_url: str, **settings: Any) -> dict:
    """/members.html's member on each of its three pages (p.m, linked by a.next), signed in with MEMBERS_COOKIE."""
    source = {
        "url": f"{base_url}/members.html",
        "rowSelector": "p.m",
        "nextPageSelector": "a.next",
        "fields": [{"name": "who", "selector": ""}],
        "headers": {"Cookie": MEMBERS_COOKIE},
    }
    return {"scrape": {**source, **settings}}


ROUTES = {
    "/api/items": items,
    "/api/mixed": mixed,
    "/api/gappy": gappy,
    "/flaky": flaky,
    "/limited": limited,
    "/auth": auth,
    "/catalog.json": catalog,
    "/orders.json": orders,
    "/exports/prices.csv": prices_export,
    "/raw/prices.csv.gz": raw_gzip,
    "/download": download,
    "/members.html": members,
    "/who.json": who,
    "/paged/numbers": paged_numbers,
    "/paged/offsets": paged_offsets,
    "/paged/cursor": paged_cursor,
    "/to-private": to_private,
    "/shop/list.html": shop_list,
    **{f"/catalog/page{page}.html": catalog_page for page in range(1, 5)},
    "/loop/a.html": loop_page,
    "/loop/b.html": loop_page,
    "/encoded/header.html": charset_in_header,
    "/encoded/meta.html": charset_in_meta,
    "/encoded/bogus.html": charset_bogus,
    "/encoded/plain.html": charset_unnamed,
}
