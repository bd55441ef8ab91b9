"""Every URL the API writes comes from here: the public URL, any mount prefix, the path, the query.

With ``ONEMAP_PUBLIC_URL`` set (production: the address clients use, behind any proxy), links
start with it, its path being the mount prefix. Without it, they start with the request's
own host and ``SCRIPT_NAME`` (the app mounted under a prefix by a WSGI dispatcher), and
outside a request with ``http://127.0.0.1:5000``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from flask import has_request_context, request

DEFAULT_BASE = "http://127.0.0.1:5000"
_PLAIN = re.compile(r"[A-Za-z0-9_.~{}/-]*\Z")  # needs no quoting


def _pair(k: str, v: str) -> str:
    # as urlencode(quote_via=quote) writes it, without its per-call type checks
    return f"{urllib.parse.quote(k, safe=',:/')}={urllib.parse.quote(v, safe=',:/')}"



def link_header(links: Iterable[Mapping[str, Any]]) -> str:
    """Link objects as an RFC 8288 ``Link`` header value (clients such as the OGC API - Features Part 3 test
    suite read a collection's queryables from it). Titles stay in the document: headers are Latin-1."""
    return ", ".join(f'<{link["href"]}>; rel="{link["rel"]}"; type="{link["type"]}"' for link in links)


JSONLD = "application/ld+json"


def without_jsonld(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pygeoapi's links less its JSON-LD alternates: OneMap's routes answer JSON and HTML (a JSON-LD link was
    a 400; see ``core_ep.CoreAPI.landing``)."""
    return [link for link in links if link.get("type") != JSONLD]

class Links:
    """The link builder of one application."""

    def __init__(self, public_url: str | None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    @property
    def base(self) -> str:
        """The API's root URL, without a trailing slash."""
        if self.public_url:
            return self.public_url
        if has_request_context():
            return request.host_url.rstrip("/") + request.script_root
        return DEFAULT_BASE

    @property
    def configured_base(self) -> str:
        """The root as configured (what generated configurations and pygeoapi's documents hold)."""
        return self.public_url or DEFAULT_BASE

    @property
    def prefix(self) -> str:
        """The mount prefix: the path of the root URL ('' at the host's root)."""
        return urllib.parse.urlsplit(self.base).path.rstrip("/")

    def url(self, *segments: str | int, query: Mapping[str, Any] | None = None) -> str:
        """``base/seg1/seg2?k=v``; segments are quoted (ids may hold any character)."""
        parts = []
        for seg in segments:
            text = str(seg).strip("/")
            if text:
                parts.append(text if _PLAIN.match(text) else urllib.parse.quote(text, safe="/{}"))
        out = self.base + ("/" + "/".join(parts) if parts else "")
        if query:
            out += "?" + "&".join(_pair(k, str(v)) for k, v in query.items() if v is not None)
        return out

    def link(self, rel: str, media_type: str, *segments: str | int, title: str | None = None,
             query: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """A link object (OGC API - Common ``link``)."""
        out: dict[str, Any] = {"rel": rel, "type": media_type, "href": self.url(*segments, query=query)}
        if title:
            out["title"] = title
        out.update(extra)
        return out

    @staticmethod
    def encoded(args: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """A request's arguments, each URL-encoded once: every link of a page reuses them."""
        return [(k, _pair(k, v)) for k, v in args]

    @staticmethod
    def query_string(encoded: list[tuple[str, str]], drop: tuple[str, ...], add: Mapping[str, Any]) -> str:
        """The request's query without ``drop``, plus ``add``."""
        return "&".join([*(enc for k, enc in encoded if k not in drop), *(_pair(k, str(v)) for k, v in add.items())])

    def rebase(self, text: str) -> str:
        """A document written with the configured root (pygeoapi's), with this request's root."""
        base = self.base
        configured = self.configured_base
        return text if base == configured else text.replace(configured, base)
