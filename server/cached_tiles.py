"""Cached vector tiles answered in front of Flask.

A portal's maps ask for the same cached tiles over and over. Reading one from the cache
costs less than Flask's routing, request context and hooks around it, so a plain request
for one collection's tile of the plans in force (GET, gzip accepted, no query but
``f=mvt`` and ``view=governing``, no credentials, a layer of the public tier) is answered here when the
cache holds the tile and no change covers it, with
the same headers the application would send (a 304 to a browser's If-None-Match that
matches). Anything else, a cache miss or a bad address included, goes to the
application unchanged, which answers or explains it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.http import parse_etags

from onemap.providers.store.base import begin_request, end_request
from onemap.providers.vector_tiles import RenderedTile
from onemap.tiles import tms as tmsmod
from onemap.tiles.mvt import MVT_MEDIA_TYPE

from .http import CORS_HEADERS, request_id
from .tiles_ep import tile_headers

if TYPE_CHECKING:
    from .app import OneMap

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
_PATH = re.compile(r"/collections/([A-Za-z0-9_.-]+)/tiles/([A-Za-z0-9_.-]+)/(\d{1,3})/(\d{1,12})/(\d{1,12})/?\Z")
# the queries answered here, and the view each asks for (the map asks for the governing view)
_PLAIN_QUERIES = {
    "": "all", "f=mvt": "all", "f=pbf": "all",
    "view=governing": "governing", "view=governing&f=mvt": "governing", "view=governing&f=pbf": "governing",
    "f=mvt&view=governing": "governing", "f=pbf&view=governing": "governing",
}


class CachedTiles:
    """WSGI middleware: see the module docstring."""

    def __init__(self, app: WSGIApp, om: OneMap) -> None:
        self.app = app
        self.om = om

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING", "") in _PLAIN_QUERIES
                and "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "").lower()
                and "HTTP_AUTHORIZATION" not in environ):  # credentials are checked by the app
            m = _PATH.match(environ.get("PATH_INFO", ""))
            hit = None
            if m:
                collection_id, tms_id, z, row, col = m.groups()
                view = _PLAIN_QUERIES[environ.get("QUERY_STRING", "")]
                hit = self._hit(collection_id, tms_id, z, row, col, view=view)
            if hit is not None:
                common = [*tile_headers(hit.etag, hit.cache).items(),
                          ("X-Request-ID", request_id(environ.get("HTTP_X_REQUEST_ID"))), *CORS_HEADERS]
                match = environ.get("HTTP_IF_NONE_MATCH")
                if match is not None and hit.etag.strip('"') in parse_etags(match):
                    start_response("304 NOT MODIFIED", common)
                    return []
                start_response("200 OK", [("Content-Type", MVT_MEDIA_TYPE), ("Content-Length", str(len(hit.gz))),
                                          ("Content-Encoding", "gzip"), *common])
                return [hit.gz]
        return self.app(environ, start_response)

    def _hit(self, collection_id: str, tms_id: str, z: str, row: str, col: str, view: str = "all"
             ) -> RenderedTile | None:
        layer = self.om.catalogue.layers.get(collection_id)
        if layer is None or not self.om.policy.public_collection(collection_id):
            return None  # a layer not everyone may see is answered by the app, after its access check
        token = begin_request()
        try:
            hit = self.om.tiles.cached(layer, tmsmod.tile(tms_id, z, row, col), view=view)
        except Exception:  # noqa: BLE001  (the application answers this request, and reports its error)
            return None
        finally:
            end_request(token)
        return hit if hit is not None and hit.gz else None  # an empty tile is the application's 204
