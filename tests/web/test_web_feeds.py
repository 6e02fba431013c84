"""RSS 2.0 and Atom feeds: well-formed XML, the right papers, search and trending feeds."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest

ATOM = "{http://www.w3.org/2005/Atom}"


def test_rss_daily(web: httpx.Client, web_server):
    r = web.get("/rss.xml")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
    root = ET.fromstring(r.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert "5 April 2024" in channel.findtext("title")
    items = channel.findall("item")
    assert len(items) == 4
    link = items[0].findtext("link")
    assert link.startswith(web_server.url + "/papers/")
    assert items[0].find("guid").get("isPermaLink") == "true"
    assert items[0].findtext("pubDate").endswith("+0000")
    assert channel.find(f"{ATOM}link").get("href") == web_server.url + "/rss.xml"
    assert web.get(link.removeprefix(web_server.url)).status_code == 200


def test_atom_daily(web: httpx.Client, web_server):
    r = web.get("/atom.xml")
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(r.content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 4
    entry = entries[0]
    assert entry.findtext(f"{ATOM}id").startswith(web_server.url + "/papers/")
    assert entry.find(f"{ATOM}summary").get("type") == "text"
    assert entry.findall(f"{ATOM}author/{ATOM}name")
    assert root.findtext(f"{ATOM}updated").startswith("2024-04-05")


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_search_and_trending_feeds(web: httpx.Client, kind: str):
    search = ET.fromstring(web.get(f"/{kind}.xml", params={"q": "diffusion"}).content)
    text = ET.tostring(search, encoding="unicode")
    assert "diffusion" in text.lower()
    titles = search.findall(".//item/title") or search.findall(f"{ATOM}entry/{ATOM}title")
    assert 0 < len(titles) <= 50
    trending = ET.fromstring(web.get(f"/{kind}.xml", params={"view": "trending"}).content)
    assert "trending" in ET.tostring(trending, encoding="unicode").lower()
    assert web.get(f"/{kind}.xml", params={"view": "bogus"}).status_code == 400


def test_feeds_drop_characters_xml_forbids():
    from paperwire.web.routes.feeds import xml_text

    assert xml_text("a\x00b\x0cc\ud800d\ttab") == "abcd\ttab"
