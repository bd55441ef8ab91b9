"""OGC API - Tiles: tile matrix sets, tilesets, MVT tiles, cache, invalidation when plans change."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import gzip
import itertools
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pytest

from .auth import admin_client
from .conftest import get_json, registry_notice_delivered

CENTRAL = (117.066, 31.483)  # the demo's central city


def tile_at(tms_id: str, z: int, lon: float = CENTRAL[0], lat: float = CENTRAL[1]) -> tuple[int, int]:
    from onemap.tiles import tms as tmsmod

    t = tmsmod.get(tms_id).tile(lon, lat, z)
    return t.y, t.x


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data)


# ---- tile matrix sets ------------------------------------------------------------------------------
def test_tile_matrix_sets(client):
    doc = get_json(client, "/tileMatrixSets")
    assert {s["id"] for s in doc["tileMatrixSets"]} == {"WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad",
                                                        "TiandituC", "TiandituW"}
    cg = get_json(client, "/tileMatrixSets/CGCS2000Quad")
    assert cg["crs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
    m0 = cg["tileMatrices"][0]
    assert (m0["matrixWidth"], m0["matrixHeight"], m0["pointOfOrigin"], m0["cellSize"]) == (2, 1, [90.0, -180.0], 0.703125)
    assert cg["tileMatrices"][1]["cellSize"] == pytest.approx(0.703125 / 2)
    get_json(client, "/tileMatrixSets/Nope", status=404)


# Tianditu's capabilities (vec_c and vec_w): level 1 is 1:2.958293554545656E8 (0.703125 degrees or
# 78,271.5 m a pixel at 96 dpi), and each level halves it
TIANDITU_SCALES = {z: 2.958293554545656e8 / 2 ** (z - 1) for z in (1, 10, 18)}


@pytest.mark.parametrize(("tms_id", "twin", "shift", "crs"), [
    ("TiandituC", "CGCS2000Quad", -1, "http://www.opengis.net/def/crs/EPSG/0/4490"),
    ("TiandituW", "WebMercatorQuad", 0, "http://www.opengis.net/def/crs/EPSG/0/3857"),
])
def test_tianditu_matrix_sets(client, tms_id, twin, shift, crs):
    """Tianditu's grids: levels 1-18 with Tianditu's 96 dpi denominators, the same tiles as their twin's
    level + shift, and 0.28 mm denominators in the TMS 1.0 members (GDAL 3.6 derives the pixel from them)."""
    from onemap.tiles import tms as tmsmod

    doc = get_json(client, f"/tileMatrixSets/{tms_id}")
    assert doc["crs"] == crs
    ids = [m["id"] for m in doc["tileMatrices"]]
    assert ids == [str(z) for z in range(1, 19)]
    by_id = {int(m["id"]): m for m in doc["tileMatrices"]}
    for z, scale in TIANDITU_SCALES.items():
        assert by_id[z]["scaleDenominator"] == pytest.approx(scale, rel=1e-9)
    twin_doc = get_json(client, f"/tileMatrixSets/{twin}")
    twin_by_id = {int(m["id"]): m for m in twin_doc["tileMatrices"]}
    for z in (1, 7, 18):
        assert by_id[z]["cellSize"] == pytest.approx(twin_by_id[z + shift]["cellSize"], rel=1e-12)
        assert (by_id[z]["matrixWidth"], by_id[z]["matrixHeight"]) == (
            twin_by_id[z + shift]["matrixWidth"], twin_by_id[z + shift]["matrixHeight"])
    v1 = {int(m["identifier"]): m for m in doc["tileMatrix"]}
    assert v1[1]["scaleDenominator"] == pytest.approx(twin_by_id[1 + shift]["scaleDenominator"], rel=1e-9)
    # a tile is worked out on the twin: one cache and one rendering for both names
    ref = tmsmod.tile(tms_id, 12, 1200, 3400)
    assert (ref.tms_id, ref.z, ref.y, ref.x) == (twin, 12 + shift, 1200, 3400)
    get_json(client, f"/collections/dltb/tiles/{tms_id}/0/0/0", status=404)  # level 0 is not Tianditu's


def test_tianditu_tiles_are_the_twins(client):
    """A vector tile addressed in Tianditu's c grid is the CGCS2000Quad tile one level up."""
    row, col = tile_at("CGCS2000Quad", 13)
    a = client.get(f"/collections/dltb/tiles/CGCS2000Quad/13/{row}/{col}")
    b = client.get(f"/collections/dltb/tiles/TiandituC/14/{row}/{col}")
    assert a.status_code == b.status_code == 200
    assert decode(a.data) == decode(b.data) and decode(a.data)["dltb"]["features"]
    ts = get_json(client, "/collections/dltb/tiles/TiandituC")
    assert ts["tileMatrixSetLimits"][0]["tileMatrix"] == "1"
    assert ts["layers"][0]["minTileMatrix"] == "1"


@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"])
def test_round_trip_tile_bbox_tile(tms_id):
    """tile -> bounds -> tile gives the same tile at every zoom (STYLE: TMS as data)."""
    from onemap.tiles import tms as tmsmod

    t = tmsmod.get(tms_id)
    for z in range(0, 19, 3):
        tile = t.tile(*CENTRAL, z)
        b = t.bounds(tile)
        cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
        assert t.tile(cx, cy, z) == tile
        assert t.tile(b.left + 1e-9, b.top - 1e-9, z) == tile


def test_cgcs2000_grid_lines_up_with_tianditu_c():
    """Level 0: two tiles, west and east hemispheres; level z tile widths are 180/2^z degrees."""
    from onemap.tiles import tms as tmsmod

    t = tmsmod.get("CGCS2000Quad")
    assert t.bounds(morecantile.Tile(0, 0, 0)) == (-180.0, -90.0, 0.0, 90.0)
    assert t.bounds(morecantile.Tile(1, 0, 0)) == (0.0, -90.0, 180.0, 90.0)
    b = t.bounds(t.tile(*CENTRAL, 10))
    assert b.right - b.left == pytest.approx(180 / 2**10)


# ---- tilesets -----------------------------------------------------------------------------------------
def test_collection_tilesets_and_links(client):
    doc = get_json(client, "/collections/czkfbj/tiles")
    assert len(doc["tilesets"]) == 5  # the three grids and Tianditu's two
    ts = get_json(client, "/collections/czkfbj/tiles/CGCS2000Quad")
    rels = {link["rel"]: link for link in ts["links"]}
    assert rels["item"]["href"].endswith("/collections/czkfbj/tiles/CGCS2000Quad/{tileMatrix}/{tileRow}/{tileCol}")
    assert rels["item"]["type"] == "application/vnd.mapbox-vector-tile"
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"].endswith("/tileMatrixSets/CGCS2000Quad")
    assert ts["dataType"] == "vector" and ts["layers"][0]["id"] == "czkfbj"
    limits = {lim["tileMatrix"]: lim for lim in ts["tileMatrixSetLimits"]}
    row, _col = tile_at("CGCS2000Quad", 10)
    assert limits["10"]["minTileRow"] <= row <= limits["10"]["maxTileRow"]
    coll = get_json(client, "/collections/czkfbj")
    assert any(link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" for link in coll["links"])


def test_tilejson(client):
    doc = get_json(client, "/collections/dltb/tiles/WebMercatorQuad?f=tilejson")
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].endswith("/collections/dltb/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert doc["vector_layers"][0]["id"] == "dltb" and "DLBM" in doc["vector_layers"][0]["fields"]
    get_json(client, "/collections/dltb/tiles/CGCS2000Quad?f=tilejson", status=400)


def test_registry_has_no_tiles(client):
    get_json(client, "/collections/plans/tiles", status=404)


# ---- tiles ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"])
def test_tile_of_each_matrix_set(client, tms_id):
    row, col = tile_at(tms_id, 12)
    r = client.get(f"/collections/dltb/tiles/{tms_id}/12/{row}/{col}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.mapbox-vector-tile"
    layer = decode(r.data)["dltb"]
    assert layer["features"]
    f = layer["features"][0]
    assert isinstance(f["id"], int) and f["id"] > 0
    props = f["properties"]
    assert props["DLBM"] and props["DLMC"]  # code with its label
    assert props["plan_id"].endswith("-county-survey-2023")  # the survey is kept per county


def test_drawer_date_applies_to_tiles(client):
    row, col = tile_at("WebMercatorQuad", 11)
    now = decode(client.get(f"/collections/czkfbj/tiles/WebMercatorQuad/11/{row}/{col}").data)["czkfbj"]
    then = decode(client.get(f"/collections/czkfbj/tiles/WebMercatorQuad/11/{row}/{col}?datetime=2022-06-01").data)
    plans_now = {f["properties"]["plan_id"] for f in now["features"]}
    plans_then = {f["properties"]["plan_id"] for f in then["czkfbj"]["features"]}
    assert "990100-city-master-2023" in plans_now and "990100-city-master-2021" not in plans_now
    assert "990100-city-master-2021" in plans_then and "990100-city-master-2023" not in plans_then


def test_outside_matrix_404_empty_204(client):
    get_json(client, "/collections/dltb/tiles/WebMercatorQuad/21/0/0", status=404)
    get_json(client, "/collections/dltb/tiles/WebMercatorQuad/3/8/0", status=404)
    get_json(client, "/collections/dltb/tiles/CGCS2000Quad/0/0/2", status=404)
    get_json(client, "/collections/dltb/tiles/WebMercatorQuad/x/0/0", status=404)
    get_json(client, "/collections/dltb/tiles/Nope/1/0/0", status=404)
    r = client.get("/collections/dltb/tiles/WebMercatorQuad/5/0/0")  # the Arctic: no parcels
    assert r.status_code == 204 and r.data == b""


def test_bad_tile_parameters(client):
    row, col = tile_at("WebMercatorQuad", 12)
    get_json(client, f"/collections/dltb/tiles/WebMercatorQuad/12/{row}/{col}?colour=red", status=400)
    get_json(client, f"/collections/dltb/tiles/WebMercatorQuad/12/{row}/{col}?datetime=nope", status=400)
    get_json(client, f"/collections/dltb/tiles/WebMercatorQuad/12/{row}/{col}?f=png", status=400)


def test_low_zoom_is_generalised_and_capped(client):
    """Nothing smaller than a screen pixel reaches a tile; every feature is bigger."""
    from onemap.tiles import tms as tmsmod

    row, col = tile_at("WebMercatorQuad", 8)
    r = client.get(f"/collections/dltb/tiles/WebMercatorQuad/8/{row}/{col}")
    assert r.status_code in (200, 204)
    if r.status_code == 200:
        ref = tmsmod.tile("WebMercatorQuad", 8, row, col)
        px = 4096 / 256  # one screen pixel in tile units
        for f in decode(r.data)["dltb"]["features"]:
            xs, ys = _coords(f["geometry"]["coordinates"])
            assert max(max(xs) - min(xs), max(ys) - min(ys)) >= px * 0.9, ref


def _coords(c):
    xs, ys = [], []

    def walk(v):
        if isinstance(v[0], (int, float)):
            xs.append(v[0])
            ys.append(v[1])
        else:
            for w in v:
                walk(w)

    walk(c)
    return xs, ys


def test_dataset_tiles_combine_layers(client):
    row, col = tile_at("WebMercatorQuad", 12)
    layers = decode(client.get(f"/tiles/WebMercatorQuad/12/{row}/{col}").data)
    assert {"dltb", "czkfbj", "ghfq"} <= set(layers)
    only = decode(client.get(f"/tiles/WebMercatorQuad/12/{row}/{col}?collections=czkfbj,ghfq").data)
    assert set(only) == {"czkfbj", "ghfq"}
    get_json(client, f"/tiles/WebMercatorQuad/12/{row}/{col}?collections=nope", status=404)


def test_head_cors_etag_and_cache(anonymous):
    row, col = tile_at("WebMercatorQuad", 13)
    url = f"/collections/ghfq/tiles/WebMercatorQuad/13/{row}/{col}"
    first = anonymous.get(url, headers={"Origin": "http://portal.example"})
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    second = anonymous.get(url)
    assert second.headers["X-Cache"] == "HIT" and second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"] and "max-age" in second.headers["Cache-Control"]
    head = anonymous.head(url)
    assert head.status_code == first.status_code and head.data == b""
    assert head.headers["ETag"] == first.headers["ETag"]
    not_modified = anonymous.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304


def test_both_backends_put_the_same_features_in_a_tile(demo_dir, pg, pg_template, tmp_path):
    """PostGIS (ST_AsMVT) and the GeoPackage (mapbox-vector-tile) select the same features."""
    from onemap.config.settings import Settings
    from onemap.server.app import create_app

    from .conftest import pg_clone

    apps = [create_app(Settings(data_dir=demo_dir, tile_cache=False)),
            create_app(Settings(data_dir=tmp_path, database_url=pg_clone(pg, pg_template), tile_cache=False))]
    for tms_id in ("WebMercatorQuad", "CGCS2000Quad"):
        for layer, z in (("dltb", 12), ("dltb", 14), ("czkfbj", 10), ("ghfq", 11), ("stbhhx", 9)):
            row, col = tile_at(tms_id, z)
            ids = []
            for app in apps:
                r = admin_client(app).get(f"/collections/{layer}/tiles/{tms_id}/{z}/{row}/{col}")
                ids.append({f["id"] for f in decode(r.data).get(layer, {}).get("features", [])}
                           if r.status_code == 200 else set())
            assert ids[0] == ids[1], (tms_id, layer, z)
            assert ids[0], (tms_id, layer, z)


def test_features_crossing_the_edge_are_clipped_to_the_buffer(client):
    """Features are clipped at the tile's edge plus the 64-unit buffer; the rest are sent whole."""
    from onemap.tiles.mvt import BUFFER, EXTENT

    inside = 0
    for tms_id, z in (("WebMercatorQuad", 14), ("WebMercatorQuad", 12), ("CGCS2000Quad", 14), ("CGCS2000Quad", 12)):
        row, col = tile_at(tms_id, z)
        feats = decode(client.get(f"/collections/dltb/tiles/{tms_id}/{z}/{row}/{col}").data)["dltb"]["features"]
        crossing = 0
        for f in feats:
            coords = [c for ring in _rings(f["geometry"]) for c in ring]
            assert all(-BUFFER - 1 <= v <= EXTENT + BUFFER + 1 for c in coords for v in c), (tms_id, z, f["id"])
            crossing += any(not 0 <= v <= EXTENT for c in coords for v in c)
        assert 0 < crossing, (tms_id, z)
        inside += len(feats) - crossing
    assert inside > 0


def _rings(geom: dict) -> list[list[list[float]]]:
    if geom["type"] == "Polygon":
        return geom["coordinates"]
    return [ring for poly in geom["coordinates"] for ring in poly]


# ---- invalidation ------------------------------------------------------------------------------------------
def test_filing_a_plan_invalidates_the_affected_tiles(fresh_settings):
    """After a new city plan version is filed, the next request for an affected tile shows it,
    while a cached tile elsewhere stays cached."""
    from onemap.server.app import create_app

    from .conftest import file_grown_boundary

    app = create_app(fresh_settings)
    client = admin_client(app)
    row, col = tile_at("WebMercatorQuad", 12)
    url = f"/collections/czkfbj/tiles/WebMercatorQuad/12/{row}/{col}"
    before = decode(client.get(url).data)["czkfbj"]["features"]
    assert client.get(url).headers["X-Cache"] == "HIT"
    far_row, far_col = tile_at("WebMercatorQuad", 12, 116.80, 31.49)  # the western county seat
    far = f"/collections/czkfbj/tiles/WebMercatorQuad/12/{far_row}/{far_col}"
    client.get(far)
    other_layer = f"/collections/dltb/tiles/WebMercatorQuad/12/{row}/{col}"
    client.get(other_layer)

    file_grown_boundary(fresh_settings, CENTRAL)

    # another process filed it: this server learns of it from PostgreSQL's notice (sub-millisecond,
    # but asynchronous), so wait for the notice to be on its way before asking
    registry_notice_delivered(app.extensions["onemap"].store)
    after = client.get(url)
    assert after.headers["X-Cache"] == "MISS"
    plans = {f["properties"]["plan_id"] for f in decode(after.data)["czkfbj"]["features"]}
    assert "990100-city-master-2025" in plans and "990100-city-master-2023" not in plans
    assert {f["properties"]["plan_id"] for f in before} >= {"990100-city-master-2023"}
    assert client.get(far).headers["X-Cache"] == "HIT"  # outside the changed area
    assert client.get(other_layer).headers["X-Cache"] == "HIT"  # a layer the plan does not change


def test_overview_tiles_carry_the_drawing_class_and_detail_tiles_everything(client):
    """Below zoom 14 a parcel layer's tiles hold the class the map is drawn by (and the feature id,
    for the full record from /items); from zoom 14 every attribute."""
    def props(z: int) -> tuple[set[str], dict]:
        row, col = tile_at("WebMercatorQuad", z)
        r = client.get(f"/collections/dltb/tiles/WebMercatorQuad/{z}/{row}/{col}")
        assert r.status_code == 200
        feats = decode(r.data)["dltb"]["features"]
        return set().union(*(f["properties"] for f in feats)), feats[0]

    overview, feature = props(12)
    assert overview == {"DLBM", "DLMC", "plan_id"}
    item = get_json(client, f"/collections/dltb/items/{feature['id']}")
    assert item["properties"]["DLBM"] == feature["properties"]["DLBM"]
    detail, _ = props(14)
    assert {"BSM", "TBBH", "ZLDWDM", "TBMJ", "DLBM", "DLMC", "plan_id", "plan_version"} <= detail
    # the same in a geographic matrix set at the same ground resolution
    row, col = tile_at("WorldCRS84Quad", 11)
    r = client.get(f"/collections/dltb/tiles/WorldCRS84Quad/11/{row}/{col}")
    assert set().union(*(f["properties"] for f in decode(r.data)["dltb"]["features"])) == overview


def test_tiles_are_sent_compressed_to_clients_that_accept_it(client):
    import gzip

    row, col = tile_at("WebMercatorQuad", 14)
    url = f"/collections/dltb/tiles/WebMercatorQuad/14/{row}/{col}"
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data)
    assert decode(plain.data)["dltb"]["features"]


# ---- the cache: a disk it cannot write, equivalent requests --------------------------------------------
GZ = {"Accept-Encoding": "gzip"}


@pytest.fixture()
def own_cache(fresh_settings):
    """An application over a private copy of the demo, with a tile cache of its own; an anonymous client
    (public layers: the cached-tile fast path in front of Flask answers it too)."""
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    return app.test_client(), fresh_settings.data_dir / "tiles"


def _tiles_with_features(client, n: int = 3) -> list[str]:
    urls = []
    for z in (10, 11, 12, 13):
        row, col = tile_at("WebMercatorQuad", z)
        urls.append(f"/collections/czkfbj/tiles/WebMercatorQuad/{z}/{row}/{col}")
    return urls[:n]


@contextlib.contextmanager
def _cache_unwritable(cache: Path, how: str) -> Iterator[Callable[[], None]]:
    """The cache folder made unusable, as root can still suffer it: a file where the folder should be, or
    a tmpfs filled to its last byte (ENOSPC); yields what makes it writable again."""
    shutil.rmtree(cache, ignore_errors=True)
    if how == "a file in the way":
        cache.write_bytes(b"not a folder")
        yield cache.unlink
        return
    cache.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "onemap-test", str(cache)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"no tmpfs can be mounted here ({r.stderr.strip()})")
    try:
        filler = cache / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, b"\0" * 65536)
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield filler.unlink
    finally:
        subprocess.run(["umount", str(cache)], capture_output=True, check=False)


@pytest.mark.parametrize("how", ["a file in the way", "a full disk"])
def test_tiles_are_answered_when_the_cache_cannot_be_written(own_cache, how, caplog):
    client, cache = own_cache
    urls = _tiles_with_features(client)
    caplog.set_level(logging.WARNING, logger="onemap.tiles.cache")
    with _cache_unwritable(cache, how) as writable_again:
        for _ in range(5):
            for url in urls:
                for query in ("", "?f=MVT"):  # in front of Flask, and through the application
                    r = client.get(url + query, headers=GZ)
                    assert r.status_code == 200 and r.headers["X-Cache"] == "MISS", (url, r.status_code, r.data[:200])
                    assert decode(gzip.decompress(r.data))["czkfbj"]["features"]
        said = [rec for rec in caplog.records if rec.name == "onemap.tiles.cache"]
        assert len(said) == 1, [rec.getMessage() for rec in said]  # once in a while, not per request
        assert "rendered and answered meanwhile" in said[0].getMessage()
        writable_again()
        # the cache is used again as soon as it can be written
        assert client.get(urls[0], headers=GZ).headers["X-Cache"] == "MISS"
        again = client.get(urls[0], headers=GZ)
        assert again.status_code == 200 and again.headers["X-Cache"] == "HIT"


def test_equivalent_requests_share_one_cached_tile(own_cache, today):
    """~300 spellings of a few questions: one cache file per question, not one per spelling."""
    client, cache = own_cache
    store = client.application.extensions["onemap"].store
    url = _tiles_with_features(client)[2]

    def files() -> int:
        return sum(1 for _ in cache.rglob("*.mvt.gz"))

    def one_entry(queries: list[dict[str, str]]) -> None:
        before = files()
        tags = set()
        for q in queries:
            r = client.get(url, query_string=q, headers=GZ)
            assert r.status_code == 200, (q, r.status_code, r.data[:200])
            tags.add(r.headers["ETag"])
        assert len(tags) == 1, queries[:3]
        assert files() == before + 1, (files() - before, queries[:3])

    # one day, however it is written (a local date; instants of that day in Beijing)
    day = [" 2024-03-01", "2024-03-01", "2024-03-01 ", "2024-03-01/2024-03-01", "2024-03-01T00:00:00+08:00",
           "2024-02-29T16:00:00Z", "2024-02-29T16:00:00.000001Z", "2024-03-01T23:59:59.999999+08:00"]
    day += [f"2024-03-01T{h:02d}:{m:02d}:07.{m * 7919:06d}+08:00" for h in range(0, 24, 3) for m in range(0, 60, 4)]
    one_entry([{"datetime": d} for d in day])
    # today: no date at all, today's date, instants of today; the registry as it stands, however said
    now = dt.datetime.now(dt.UTC)
    last = max(e.at for e in store.events())
    current = [{}, {"datetime": today.isoformat()}, {"datetime": f" {today.isoformat()}"},
               {"recorded": today.isoformat()}]
    current += [{"datetime": f"{today.isoformat()}T{h:02d}:30:00.{h * 4:06d}+08:00"} for h in range(24)]
    current += [{"recorded": (last + (now - last) * k / 30).isoformat()} for k in range(1, 30)]
    one_entry(current)
    # the registry as it stood between two of its records, at any instant in between
    times = sorted({e.at for e in store.events()} | {p.submitted_at for p in store.plans().values() if p.submitted_at})
    t1, t2 = max((a, b) for a, b in itertools.pairwise(times) if b <= last and b - a > dt.timedelta(milliseconds=1))
    between = [t1 + (t2 - t1) * k / 101 for k in range(1, 101)]
    one_entry([{"recorded": (t.astimezone(dt.UTC) if k % 2 else t).isoformat()} for k, t in enumerate(between)])


@pytest.mark.parametrize("path", ["/tileMatrixSets", "/tileMatrixSets/CGCS2000Quad", "/tiles", "/tiles/WebMercatorQuad",
                                  "/collections/czkfbj/tiles", "/collections/czkfbj/tiles/CGCS2000Quad"])
def test_tiles_pages_in_html(anonymous, path):
    """f=html (or a browser's Accept) on the tiles documents: pygeoapi's page, with the document's links live."""
    import re
    import urllib.parse

    for r in (anonymous.get(path + "?f=html"), anonymous.get(path, headers={"Accept": "text/html"})):
        assert r.status_code == 200 and r.mimetype == "text/html", (path, r.status_code, r.data[:300])
    page = r.get_data(as_text=True)
    doc = anonymous.get(path + "?f=json").get_json()
    names = [doc[k] for k in ("id", "title") if k in doc] or [t["title"] for t in doc.get("tilesets", [])[:1]]
    assert any(name in page for name in names) or "tileMatrixSets" in doc, names
    hrefs = {urllib.parse.urljoin("http://testserver" + path, h.replace("&amp;", "&"))
             for h in re.findall(r'href="([^"#]*)"', page)}
    ours = {h for h in hrefs if h.startswith("http://testserver/") and "{" not in h and "/static/" not in h}
    assert any(h.split("?")[0].endswith(path) and "f=json" in h for h in ours), ours
    for href in ours:
        assert anonymous.get(href.removeprefix("http://testserver")).status_code < 400, (path, href)
