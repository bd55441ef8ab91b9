"""Correctness of a sample answer, checked before a kind is timed (a fast error page is no success).

Expected feature counts come from SQL on the plain table ``bench.dltb`` (the same rows
every server serves), so a server that answers 200 with the wrong number of features,
or with an empty or undecodable tile, is not timed for that kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .kinds import CODES, Kind  # noqa: F401  (CODES documents the filter values)
from .loadgen import Request, fetch

HEADERS = {"Accept-Encoding": "gzip"}  # what a browser or QGIS sends; each server compresses when asked


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    detail: dict | None = None
    timeout: bool = False


def expected_count(url: str, kind: Kind, i: int) -> int | None:
    """Features the i-th request of a features kind must return (from SQL on bench.dltb)."""
    import psycopg2

    if kind.id in ("bbox", "bbox-crs", "limit1000"):
        limit = 1000 if kind.id == "limit1000" else 100
        x0, y0, x1, y1 = kind.params[i]
        sql = ("SELECT count(*) FROM (SELECT 1 FROM bench.dltb WHERE "
               "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4490)) LIMIT %s) s")
        args: tuple = (x0, y0, x1, y1, limit)
    elif kind.id == "cql2":
        code, x = kind.params[i]
        sql = 'SELECT count(*) FROM (SELECT 1 FROM bench.dltb WHERE "DLBM" = %s AND "TBMJ" > %s LIMIT 100) s'
        args = (code, x)
    else:
        return None
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def check(base_url: str, kind: Kind, req: Request, expect_count: int | None, feature_id: int | None = None,
          timeout: float = 60.0) -> Verdict:
    """Fetch ``req`` once and judge the answer against what ``kind`` expects."""
    try:
        status, headers, body = fetch(base_url, req, timeout, HEADERS)
    except TimeoutError:
        return Verdict(False, f"no answer within {timeout:.0f} s (one sample)", timeout=True)
    except OSError as err:
        return Verdict(False, f"request failed: {err}")
    what = kind.expect.what
    if what == "mvt" and status == 204:
        # an answer, but not the work the others do: timed, and flagged in the table's notes
        return Verdict(True, detail={"tile_features": 0, "tile_bytes": 0, "empty_204": True})
    if status != 200:
        snippet = body[:160].decode("utf-8", "replace").replace("\n", " ")
        return Verdict(False, f"HTTP {status}: {snippet}")
    if what in ("features", "feature"):
        try:
            doc = json.loads(body)
        except ValueError:
            return Verdict(False, "answer is not JSON")
        if what == "feature":
            if doc.get("type") != "Feature" or str(doc.get("id")) != str(feature_id):
                return Verdict(False, f"not feature {feature_id}: {str(doc)[:120]}")
            return Verdict(True, detail={"id": doc.get("id")})
        feats = doc.get("features")
        if doc.get("type") != "FeatureCollection" or not isinstance(feats, list):
            return Verdict(False, "not a FeatureCollection")
        want = expect_count if expect_count is not None else kind.expect.count
        if want is not None and len(feats) != want:
            return Verdict(False, f"{len(feats)} features where {want} are expected")
        if want is None and not feats:
            return Verdict(False, "no features")
        return Verdict(True, detail={"features": len(feats)})
    if what == "mvt":
        import mapbox_vector_tile

        try:
            layers = mapbox_vector_tile.decode(body)
        except Exception as err:  # noqa: BLE001  (any decoding failure means a broken tile)
            return Verdict(False, f"tile does not decode: {err}")
        n = sum(len(v.get("features", [])) for v in layers.values())
        if n == 0:
            return Verdict(False, "tile has no features")
        return Verdict(True, detail={"tile_features": n, "tile_bytes": len(body), "layers": sorted(layers)})
    if what == "process":
        try:
            doc = json.loads(body)
        except ValueError:
            return Verdict(False, "answer is not JSON")
        if "checks" not in doc:
            return Verdict(False, f"no checks in the result: {str(doc)[:120]}")
        return Verdict(True, detail={"checks": len(doc["checks"])})
    if what == "image":
        if not body.startswith((b"\xff\xd8", b"\x89PNG")):
            return Verdict(False, f"not an image ({headers.get('content-type')})")
        return Verdict(True, detail={"bytes": len(body)})
    raise ValueError(what)
