"""Every link the server writes leads somewhere: a crawl from the landing page through every JSON document.

Same origin only, each URL once, a bounded number of item pages per collection; any 4xx or 5xx fails,
for an administrator (every tier) and for an anonymous caller (the public tier: a link it is given is one
it may follow).
"""

from __future__ import annotations

import json
import urllib.parse
from collections import deque
from collections.abc import Iterator

import pytest

ORIGIN = "http://testserver"
ITEM_PAGES = 2  # pages of items followed per collection (next/prev), and single items per page
MAX_URLS = 3000
EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"


def links_of(doc: object) -> Iterator[dict]:
    """Every link object anywhere in a JSON document (``links`` arrays at any depth)."""
    if isinstance(doc, dict):
        if isinstance(doc.get("href"), str) and "rel" in doc:
            yield doc
        for value in doc.values():
            yield from links_of(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from links_of(value)


def _items_key(url: str, rel: str) -> str | None:
    """The collection of a further items page (next, prev) or of a single item: the crawl follows a few of each
    (every format of the first page is followed)."""
    parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "collections" and parts[2] == "items":
        if len(parts) > 3:
            return f"{parts[1]}:item"
        if rel in ("next", "prev"):
            return f"{parts[1]}:page"
    return None


def crawl(client) -> tuple[dict[str, int], dict[str, str]]:
    """URL -> status of everything reached from the landing page; URL -> the document that linked it."""
    seen: dict[str, int] = {}
    source: dict[str, str] = {}
    per_items: dict[str, int] = {}
    queue = deque([f"{ORIGIN}/?f=json"])
    source[queue[0]] = "(start)"
    while queue and len(seen) < MAX_URLS:
        url = queue.popleft()
        if url in seen:
            continue
        r = client.get(url.removeprefix(ORIGIN))
        seen[url] = r.status_code
        if r.status_code >= 400 or "json" not in (r.mimetype or ""):
            continue
        for link in links_of(json.loads(r.data)):
            href = urllib.parse.urljoin(url, link["href"])
            if link["rel"] == EXECUTE:  # an execution is a POST: the link's GET says so
                posted = client.get(href.removeprefix(ORIGIN))
                seen[href] = 200 if posted.status_code == 405 and "POST" in posted.headers.get("Allow", "") \
                    else posted.status_code
                source.setdefault(href, url)
                continue
            if link.get("templated") or "{" in href or not href.startswith(ORIGIN + "/") and href != ORIGIN:
                continue
            href = href.split("#", 1)[0]
            if href in seen or href in source:
                continue
            key = _items_key(href, link["rel"])
            if key is not None:
                if per_items.get(key, 0) >= ITEM_PAGES:
                    continue
                per_items[key] = per_items.get(key, 0) + 1
            source[href] = url
            queue.append(href)
    return seen, source


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_every_link_of_every_json_document_answers(who, client, anonymous):
    seen, source = crawl(client if who == "admin" else anonymous)
    broken = {url: (status, source[url]) for url, status in seen.items() if status >= 400}
    assert not broken, json.dumps(broken, indent=1)
    assert len(seen) < MAX_URLS
    # the crawl went everywhere it should: collections, items, tiles, processes
    paths = {urllib.parse.urlsplit(u).path for u in seen}
    assert {"/collections", "/collections/czkfbj/items", "/tileMatrixSets", "/conformance", "/openapi"} <= paths
