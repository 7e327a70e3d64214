"""Scraping HTML: fields and attributes, links, next pages, charsets, headers, User-Agent and polite delay.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import pytest

from tests.pipelines.fake_sources import MEMBERS_COOKIE, SEEN, members_scrape, shop_scrape

pytestmark = pytest.mark.one_database(reason="scraping web pages")


def test_scrape_with_attributes_and_relative_links(author, source_server):
    result = author.create_and_run(
        name="shop",
        source=shop_scrape(
            source_server,
            [
                {"name": "title", "selector": "a"},
                {"name": "link", "selector": "a", "attribute": "href"},
                {"name": "price", "selector": ".price"},
                {"name": "image", "selector": "img", "attribute": "src"},
            ],
        ),
        steps=[{"scale": {"columns": ["price"], "strategy": "MINMAX"}}],
        sink={"sqlite": {"table": "products"}},
    )
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    rows = result["data"]["rows"]
    assert rows[0][:2] == ["Item 1", f"{source_server}/p/1.html"] and rows[0][3] == f"{source_server}/img/1.png"
    assert [r[2] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]  # the step ran on the typed column
    assert {c["name"]: c["semanticType"] for c in result["outputSchema"]}["price"] == "NUMERIC"


def test_scrape_follows_next_page_links(author, source_server):
    page1 = {
        "url": f"{source_server}/catalog/page1.html",
        "rowSelector": "tr.row",
        "fields": [{"name": "cell", "selector": "td"}],
    }
    catalog = {**page1, "nextPageSelector": "a.next"}
    paged = author.create(name="catalog", source={"scrape": catalog}, sink={"parquet": {"name": "catalog"}})
    assert paged["errors"] == [] and paged["pipeline"]["config"]["source"]["scrape"]["nextPageSelector"] == "a.next"
    result = author.run(paged["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert result["lastRun"]["rowsOut"] == 12  # 4 pages x 3 rows; the last page's "next" is no link
    assert [r[0] for r in result["data"]["rows"]] == ["1-0", "1-1", "1-2", "2-0", "2-1"]
    messages = [e["message"] for e in result["job"]["logs"]]
    assert f"Page 4: 3 row(s) from {source_server}/catalog/page4.html" in messages
    assert "Scraped 12 row(s) from 4 page(s)" in messages

    result = author.create_and_run(
        name="capped", source={"scrape": {**catalog, "maxPages": 2}}, sink={"parquet": {"name": "capped"}}
    )
    assert result["lastRun"]["rowsOut"] == 6
    assert any("Stopped after 2 page(s) (maxPages); more follow from" in e["message"] for e in result["job"]["logs"])

    result = author.create_and_run(
        name="loop",
        source={
            "scrape": {
                "url": f"{source_server}/loop/a.html",
                "rowSelector": "p.r",
                "fields": [{"name": "path", "selector": ""}],
                "nextPageSelector": "a[rel=next]",
            }
        },
        sink={"parquet": {"name": "loop"}},
    )
    assert [r[0] for r in result["data"]["rows"]] == ["/loop/a.html", "/loop/b.html"]
    assert any("leads back to" in e["message"] for e in result["job"]["logs"])

    for bad, field in (({"nextPageSelector": "a[["}, "nextPageSelector"), ({"maxPages": 0}, "maxPages")):
        refused = author.refusal(name="bad", source={"scrape": {**page1, **bad}}, sink={"parquet": {"name": "bad"}})
        assert refused["code"] == "INVALID_INPUT" and refused["field"][-1] == field


def test_a_selector_that_does_not_parse_is_refused_when_saved(author, source_server):
    refused = author.refusal(
        name="bad",
        source=shop_scrape(source_server, [{"name": "title", "selector": "a["}]),
        sink={"parquet": {"name": "out"}},
    )
    assert refused["code"] == "INVALID_INPUT"
    assert refused["field"] == ["source", "scrape", "fields", "0", "selector"]


@pytest.mark.parametrize(
    "href",
    [
        "/i/1",
        "/a?b=1#c",
        "/a/./b",
        "/a/../b",
        "/a/b/..",
        "//cdn.example.com/x",
        "rel/x",
        "../p/1.html",
        "#top",
        "?q=1",
        "http://other.example/x",
        "/a?next=/./x",
        "/%7Euser/",
        "/a b",
        "https://example.com/a/../b",
    ],
)
@pytest.mark.parametrize(
    "page", ["http://example.com/shop/list.html", "https://example.com:8443/a/b?x=1", "http://example.com"]
)
def test_links_resolve_exactly_as_urljoin(page, href):
    from urllib.parse import urljoin

    from services.pipelines.scrape import link_resolver

    assert link_resolver(page)(href) == urljoin(page, href)


def _pages_with_awkward_rows() -> list[str]:
    """Pages where rows miss fields, nest inside each other, match a field themselves, or sit beside
    look-alike elements outside any row."""
    import random

    chance = random.Random(7)
    pages = []
    for _ in range(40):

        def cell() -> str:
            kind = chance.choice(["n", "p", "x", ""])
            link = f'<a href="/i/{chance.randint(1, 99)}">l</a>' if chance.random() < 0.5 else ""
            return (
                f'<td class="{kind}"><span class="n">s{chance.randint(1, 9)}</span>{link} t{chance.randint(1, 9)}</td>'
            )

        def row(depth: int) -> str:
            inner = "".join(cell() for _ in range(chance.randint(0, 3)))
            if depth < 2 and chance.random() < 0.3:  # a row with a table of rows inside
                inner += f"<td><table>{''.join(row(depth + 1) for _ in range(chance.randint(1, 3)))}</table></td>"
            return f'<tr class="{chance.choice(["r", "r n", "q"])}">{inner}</tr>'

        outside = '<p class="n">not in a row</p><a href="/outside">o</a>'
        pages.append(
            f"<html><body>{outside}<table>{''.join(row(0) for _ in range(chance.randint(0, 8)))}</table>"
            f"{outside}</body></html>"
        )
    return pages


@pytest.mark.parametrize(
    "field_selectors",
    [
        ["td.n", "td.p", "a"],
        [".n", "span", "td > a"],
        ["td.p, td.n", "table td.n", "tr.r ~ tr td"],
        ["tr", "td:first-child", "span.n + a"],
        ["", "td:nth-child(2) span", "tbody td.x"],
    ],
)
def test_page_wide_field_selection_equals_asking_each_row(field_selectors):
    """Fields are selected once per page and matched to their rows; the result must be what asking
    each row with css_first gives, nested rows and all."""
    from selectolax.lexbor import LexborHTMLParser

    from services.pipelines.scrape import link_resolver, scraped_columns

    fields = [{"name": f"f{index}", "selector": selector} for index, selector in enumerate(field_selectors)]
    fields.append({"name": "link", "selector": field_selectors[0] or "a", "attribute": "href"})
    page_url = "http://example.com/list/page.html"
    resolve = link_resolver(page_url)
    for row_selector in ("tr.r", "tr", "tr.n, tr.q"):
        for page in _pages_with_awkward_rows():
            document = LexborHTMLParser(page)
            expected = {field["name"]: [] for field in fields}
            rows = document.css(row_selector)
            for row in rows:
                for field in fields:
                    element = row.css_first(field["selector"]) if field["selector"] else row
                    if element is None:
                        value = None
                    elif field.get("attribute"):
                        value = element.attributes.get(field["attribute"])
                        value = resolve(value) if value else value
                    else:
                        value = element.text(separator=" ", strip=True)
                    expected[field["name"]].append(value)
            assert scraped_columns(document, row_selector, fields, page_url) == (len(rows), expected), page


def test_scraped_pages_are_decoded_by_their_declared_charset(author, source_server):
    expected = {
        "header": ["Café crème", "€ 3,50"],
        "meta": ["Café crème", "€ 3,50"],
        "bogus": ["東京", "大阪"],
        "plain": ["Café crème", "€ 3,50"],
    }
    for name, values in expected.items():
        result = author.create_and_run(
            name=name,
            source={
                "scrape": {
                    "url": f"{source_server}/encoded/{name}.html",
                    "rowSelector": "li.r",
                    "fields": [{"name": "text", "selector": ""}],
                }
            },
            sink={"dataset": {"name": name}},
        )
        assert result["job"]["status"] == "SUCCEEDED", result["job"]
        assert [row[0] for row in result["data"]["rows"]] == values, name


def test_scrape_headers_masking_user_agent_and_polite_delay(author, source_server):
    SEEN.clear()
    source = members_scrape(
        source_server, delaySeconds=0.3, headers={"Cookie": MEMBERS_COOKIE, "User-Agent": "my-research-bot/1.0"}
    )
    created = author.create(name="members", source=source, sink={"dataset": {"name": "m"}})
    assert created["errors"] == [], created
    shown = created["pipeline"]["config"]["source"]["scrape"]["headers"]
    assert shown == {"Cookie": "••••••••okie", "User-Agent": "••••••••/1.0"}
    result = author.run(created["pipeline"]["id"])
    assert result["job"]["status"] == "SUCCEEDED", result["job"]
    assert [row[0] for row in result["data"]["rows"]] == ["member 1", "member 2", "member 3"]
    times = [when for when, _, _ in SEEN]
    assert len(times) == 3 and times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.3
    assert {agent for _, agent, _ in SEEN} == {"my-research-bot/1.0"}
    # the echoed (masked) config sent back keeps the cookie
    echoed = created["pipeline"]["config"]["source"]
    updated = author.gql(
        """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
        { errors { message } } }""",
        {"id": created["pipeline"]["id"], "source": echoed},
    )
    assert updated["data"]["updatePipeline"]["errors"] == []
    assert author.run(created["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"
    # without a User-Agent of its own, a source says who is asking
    SEEN.clear()
    plain = author.create(
        name="who",
        source={"http": {"url": f"{source_server}/who.json"}},
        sink={"dataset": {"name": "w"}},
    )
    author.run(plain["pipeline"]["id"])
    assert SEEN[0][1] == "Assay data pipeline (httpx)"
    refused = author.refusal(
        name="x",
        source={"scrape": {**source["scrape"], "delaySeconds": 61}},
        sink={"dataset": {"name": "x"}},
    )
    assert refused["field"] == ["source", "scrape", "delaySeconds"]
