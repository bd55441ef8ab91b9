"""Cached vector tiles answered in front of Flask (server/cached_tiles.py): the same answer as
the application's, and everything it does not answer left to the application."""

from __future__ import annotations

import datetime as dt
import gzip
import os

import pytest

from onemap.domain.dates import today as local_today

from .conftest import get_json
from .test_tiles import decode, tile_at

GZ = {"Accept-Encoding": "gzip"}


@pytest.fixture()
def rendered(om, monkeypatch) -> list[str]:
    """Every tile the application itself was asked for (the middleware answers without it)."""
    calls: list[str] = []
    real = om.tiles.tile

    def tile(layer, ref, when, *rest):
        calls.append(f"{layer.id}/{ref.z}/{ref.y}/{ref.x}")
        return real(layer, ref, when, *rest)

    monkeypatch.setattr(om.tiles, "tile", tile)
    return calls


# the fast path answers the public tier to callers without credentials (test_access: the other tiers)
PUBLIC = "czkfbj"


@pytest.fixture()
def client(anonymous):
    return anonymous


def _url(layer: str = PUBLIC, z: int = 12) -> str:
    row, col = tile_at("WebMercatorQuad", z)
    return f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{row}/{col}"


def test_a_cached_tile_is_answered_with_the_applications_headers(client, rendered):
    url = _url()
    client.get(url, headers=GZ)  # rendered into the cache (or already there)
    rendered.clear()
    fast = client.get(url, headers=GZ)
    assert rendered == []  # not through the application
    assert fast.status_code == 200 and fast.headers["X-Cache"] == "HIT"
    assert decode(gzip.decompress(fast.data))[PUBLIC]["features"]
    # the application's own answer (``f=MVT`` is not a plain query to the middleware): the same headers
    slow = client.get(url, headers=GZ, query_string={"f": "MVT"})
    assert len(rendered) == 1 and slow.status_code == 200 and slow.data == fast.data
    drop = {"X-Request-ID"}
    assert ({k: v for k, v in fast.headers.items() if k not in drop}
            == {k: v for k, v in slow.headers.items() if k not in drop})
    assert fast.headers["Content-Encoding"] == "gzip" and fast.headers["Content-Length"] == str(len(fast.data))
    assert fast.headers["Access-Control-Allow-Origin"] == "*" and "ETag" in fast.headers["Access-Control-Expose-Headers"]
    # a browser revalidating: 304 with the application's headers; another ETag: the tile
    tag = fast.headers["ETag"]
    fast304 = client.get(url, headers={**GZ, "If-None-Match": f'"other", {tag}'})
    slow304 = client.get(url, headers={**GZ, "If-None-Match": tag}, query_string={"f": "MVT"})
    assert len(rendered) == 2 and fast304.status_code == slow304.status_code == 304 and fast304.data == b""
    assert ({k: v for k, v in fast304.headers.items() if k not in drop}
            == {k: v for k, v in slow304.headers.items() if k not in drop})
    other = client.get(url, headers={**GZ, "If-None-Match": '"other"'})
    assert len(rendered) == 2 and other.status_code == 200 and other.data == fast.data


def test_request_ids_are_echoed_or_made(client):
    url = _url()
    client.get(url, headers=GZ)
    assert client.get(url, headers={**GZ, "X-Request-ID": "portal-42"}).headers["X-Request-ID"] == "portal-42"
    made = client.get(url, headers={**GZ, "X-Request-ID": "x" * 100}).headers["X-Request-ID"]
    assert len(made) == 16 and made != "x" * 16


def test_everything_else_goes_to_the_application(client, rendered):
    url = _url()
    client.get(url, headers=GZ)
    rendered.clear()
    for asked in (f"{url}?datetime=2024-01-01", f"{url}?f=MVT"):
        assert client.get(asked, headers=GZ).status_code == 200
    assert len(rendered) == 2
    plain = client.get(url)  # no gzip: the application decompresses the cached tile
    assert len(rendered) == 3 and plain.headers["X-Cache"] == "HIT" and "Content-Encoding" not in plain.headers
    assert plain.data == gzip.decompress(client.get(url, headers=GZ).data)
    assert client.head(url, headers=GZ).data == b""
    get_json(client, f"{url}?colour=red", status=400, headers=GZ)
    get_json(client, f"/collections/{PUBLIC}/tiles/WebMercatorQuad/21/0/0", status=404, headers=GZ)
    get_json(client, f"/collections/{PUBLIC}/tiles/Nope/1/0/0", status=404, headers=GZ)
    get_json(client, "/collections/nope/tiles/WebMercatorQuad/1/0/0", status=404, headers=GZ)
    get_json(client, "/collections/plans/tiles/WebMercatorQuad/1/0/0", status=404, headers=GZ)
    arctic = f"/collections/{PUBLIC}/tiles/WebMercatorQuad/5/0/0"
    for _ in range(2):  # an empty tile is the application's 204, cached or not
        r = client.get(arctic, headers=GZ)
        assert r.status_code == 204 and r.data == b""


def test_a_changed_area_is_rendered_again_not_served_from_the_cache(fresh_settings):
    from onemap.providers.registry import Registry
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    client = app.test_client()
    url = _url("czkfbj", 12)
    before = client.get(url, headers=GZ)
    assert client.get(url, headers=GZ).headers["X-Cache"] == "HIT"
    plans = {f["properties"]["plan_id"] for f in decode(gzip.decompress(before.data))["czkfbj"]["features"]}
    assert "990100-city-master-2023" in plans
    Registry(app.extensions["onemap"].store).withdraw("990100-city-master-2023", "示范市自然资源和规划局", "test",
                                                      valid_to=local_today() - dt.timedelta(days=1))
    after = client.get(url, headers=GZ)
    assert after.headers["X-Cache"] == "MISS"
    assert after.status_code == 204 or "990100-city-master-2023" not in {
        f["properties"]["plan_id"] for f in decode(gzip.decompress(after.data))["czkfbj"]["features"]}
    assert client.get(url, headers=GZ).headers["X-Cache"] == "HIT"


@pytest.mark.parametrize("damage", ["cut short", "bytes flipped", "emptied"])
def test_a_damaged_cached_tile_is_rendered_again_and_rewritten(fresh_settings, damage):
    """A cache file damaged on disk is never served: in front of Flask it is let through to the application,
    which renders the tile again, answers it and rewrites the file."""
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    client = app.test_client()  # anonymous: the public layer's plain requests are the fast path's
    url = _url("czkfbj", 12)
    first = client.get(url, headers=GZ)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    (path,) = (fresh_settings.data_dir / "tiles").rglob("*.mvt.gz")
    good = path.read_bytes()

    def spoil() -> None:
        raw = bytearray(good)
        if damage == "cut short":
            raw = raw[: len(raw) // 2]
        elif damage == "bytes flipped":
            for i in range(20, len(raw) - 20, 97):
                raw[i] ^= 0xFF
        else:
            raw = bytearray()
        stat = path.stat()
        path.write_bytes(bytes(raw))
        os.utime(path, (stat.st_atime, stat.st_mtime))  # as new as the good one: no invalidation explains it

    for query in ("", "?f=MVT"):  # the fast path, then the application's own path
        spoil()
        r = client.get(url + query, headers=GZ)
        assert r.status_code == 200 and r.headers["X-Cache"] == "MISS", (query, r.status_code)
        assert r.data == first.data and r.headers["ETag"] == first.headers["ETag"]
        assert decode(gzip.decompress(r.data))["czkfbj"]["features"]
        assert path.read_bytes() == good  # rewritten whole
        hit = client.get(url + query, headers=GZ)
        assert hit.headers["X-Cache"] == "HIT" and hit.data == first.data
