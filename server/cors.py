"""Cross-origin requests and the headers every answer carries.

Any web page may read the public tier (``Access-Control-Allow-Origin: *`` on GET and HEAD
sent without credentials): portals embed tiles and features. Credentials and state changes
only come from the origins an operator allows (``ONEMAP_CORS_ORIGINS``) and from the
server's own pages: a preflight from another origin for DELETE, a JSON POST or an
``Authorization`` header is refused (403), and a state-changing request that a browser
sends from another origin without a preflight (a form post) is refused as well. Executions
take JSON bodies only, so that no cross-site form can make one.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Request, Response

from onemap.config.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# request headers a page of any origin may send (CORS-safelisted, and the ones a map client uses)
PUBLIC_HEADERS = frozenset({"accept", "accept-language", "content-language", "if-none-match", "x-request-id"})
EXPOSED = "Content-Crs, ETag, Link, Location, X-Request-ID, X-Cache, OGC-NumberMatched, Retry-After"
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
)
# what an answer to a read without credentials carries (also sent by the answers made in front of Flask)
PUBLIC_READ_HEADERS = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED),
                       *SECURITY_HEADERS)
# pygeoapi's templates carry inline scripts and styles; everything else comes from this server
HTML_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; "
            "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Cors:
    """The policy of one application."""

    def __init__(self, origins: tuple[str, ...], own_base: Callable[[], str]) -> None:
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.own_base = own_base

    def allowed(self, origin: str) -> bool:
        origin = origin.rstrip("/").lower()
        return origin in self.origins or origin == origin_of(self.own_base())

    def check(self, req: Request) -> None:
        """Before anything runs: refuse what another origin may not ask for."""
        origin = req.headers.get("Origin")
        if not origin or self.allowed(origin):
            return
        if req.method == "OPTIONS" and req.headers.get("Access-Control-Request-Method"):
            method = req.headers["Access-Control-Request-Method"].upper()
            asked = {h.strip().lower() for h in req.headers.get("Access-Control-Request-Headers", "").split(",")
                     if h.strip()}
            if method not in SAFE_METHODS or not asked <= PUBLIC_HEADERS:
                raise Forbidden(f"{origin} may only read this server's public tier")
        elif req.method not in SAFE_METHODS:
            raise Forbidden(f"{origin} may not change anything on this server")

    def apply(self, req: Request, resp: Response) -> None:
        """After the answer is made: CORS and security headers."""
        env = req.environ
        if ("HTTP_ORIGIN" not in env and "HTTP_AUTHORIZATION" not in env and req.method in ("GET", "HEAD")
                and resp.status_code not in (204, 304)):
            # the common case, an anonymous read: one update (measured: a third of this hook's time)
            resp.headers.update(PUBLIC_READ_HEADERS)
            if (resp.mimetype or "") == "text/html":
                resp.headers.setdefault("Content-Security-Policy", HTML_CSP)
            return
        origin = req.headers.get("Origin")
        if origin and self.allowed(origin):
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers.add("Vary", "Origin")
            if req.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, DELETE, OPTIONS"
                resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept, " \
                                                               "Accept-Language, Prefer, If-None-Match, X-Request-ID"
                resp.headers["Access-Control-Max-Age"] = "600"
        elif (req.method in ("GET", "HEAD", "OPTIONS") and "Authorization" not in req.headers
              and not (req.method == "OPTIONS" and resp.status_code >= 400)):  # (a refused preflight allows nothing)
            resp.headers["Access-Control-Allow-Origin"] = "*"
            if req.method == "OPTIONS":
                resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
                resp.headers["Access-Control-Allow-Headers"] = "Accept, Accept-Language, If-None-Match, X-Request-ID"
                resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers["Access-Control-Expose-Headers"] = EXPOSED
        if "Authorization" in req.headers:
            # what a signed-in caller gets may hold more than the public tier: no shared cache keeps it
            resp.headers.add("Vary", "Authorization")
            cc = resp.headers.get("Cache-Control")
            if cc and "public" in cc:
                resp.headers["Cache-Control"] = cc.replace("public", "private")
        for name, value in SECURITY_HEADERS:
            resp.headers.setdefault(name, value)
        if (resp.mimetype or "") == "text/html" and resp.status_code not in (204, 304):  # (a bodiless answer's
            # mimetype is Flask's default, not what it answers about)
            resp.headers.setdefault("Content-Security-Policy", HTML_CSP)
