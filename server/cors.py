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
# what a page of another origin may read: Location and Preference-Applied of an asynchronous execution (the
# job's URL), the request id to quote to the operators, the paging and CRS headers
EXPOSED = ("Content-Crs, ETag, Link, Location, Preference-Applied, X-Request-ID, X-Cache, OGC-NumberMatched, "
           "Retry-After")
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "SAMEORIGIN"),
)
# what every answer carries
COMMON_HEADERS = (("Access-Control-Expose-Headers", EXPOSED), *SECURITY_HEADERS)
# what an answer to a read without credentials carries (also sent by the answers made in front of Flask)
PUBLIC_READ_HEADERS = (("Access-Control-Allow-Origin", "*"), *COMMON_HEADERS)
PUBLIC_PREFLIGHT = (("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                    ("Access-Control-Allow-Headers", "Accept, Accept-Language, If-None-Match, X-Request-ID"),
                    ("Access-Control-Max-Age", "600"))
CREDENTIALED_PREFLIGHT = (("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS"),
                          ("Access-Control-Allow-Headers", ("Authorization, Content-Type, Accept, Accept-Language, "
                                                            "Prefer, If-None-Match, X-Request-ID")),
                          ("Access-Control-Max-Age", "600"))
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
        """After the answer is made: CORS and security headers (each case in one update of the headers:
        measured, per-header writes were a third of this hook's time)."""
        h = resp.headers
        origin = req.environ.get("HTTP_ORIGIN")
        signed = "HTTP_AUTHORIZATION" in req.environ
        preflight = req.method == "OPTIONS"
        if origin and self.allowed(origin):
            h["Access-Control-Allow-Origin"] = origin
            h.add("Vary", "Origin")
            h.update(CREDENTIALED_PREFLIGHT if preflight else ())
            h.update(COMMON_HEADERS)
        elif req.method in SAFE_METHODS and not signed and not (preflight and resp.status_code >= 400):
            # anyone may read the public tier (a refused preflight allows nothing)
            h.update(PUBLIC_READ_HEADERS)
            h.update(PUBLIC_PREFLIGHT if preflight else ())
        else:
            h.update(COMMON_HEADERS)
        if signed:
            # what a signed-in caller gets may hold more than the public tier: no shared cache keeps it
            h.add("Vary", "Authorization")
            cc = h.get("Cache-Control")
            if cc and "public" in cc:
                h["Cache-Control"] = cc.replace("public", "private")
        if (resp.mimetype or "") == "text/html" and resp.status_code not in (204, 304):  # (a bodiless answer's
            # mimetype is Flask's default, not what it answers about)
            h.setdefault("Content-Security-Policy", HTML_CSP)
