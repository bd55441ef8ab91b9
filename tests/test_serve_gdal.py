"""`onemap serve` for real (gunicorn, first-start demo), read by GDAL's OAPIF driver."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pyogrio
import pytest

from .conftest import Reference, copy_store, pristine
from .liveserver import serve

pytestmark = pytest.mark.skipif(shutil.which("ogrinfo") is None,
                                reason="GDAL's command-line tools are installed by deploy/test.sh")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    # the first start generates the demo region
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_DEMO_PARCELS": "1500"}) as url:
        yield url, data


@pytest.fixture(scope="module")
def gdal_env(server) -> dict[str, str]:
    """GDAL's environment with a partner's token (the survey parcels are partner-tier), made with the CLI
    as the README says, and given as the README says (GDAL_HTTP_HEADERS)."""
    from .test_cli import run

    _url, data = server
    env = {"ONEMAP_DATA_DIR": str(data)}
    assert run("user", "add", "gdal-client", "--role", "partner", env=env).returncode == 0
    made = run("token", "create", "gdal-client", env=env)
    assert made.returncode == 0, made.stderr
    return {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {made.stdout.strip()}"}


def test_without_the_token_gdal_does_not_see_the_parcels(server):
    url, _ = server
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}/collections/dltb", "dltb"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode != 0
    public = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}/collections/czkfbj", "czkfbj"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert public.returncode == 0 and "Feature Count:" in public.stdout, public.stderr


def expected_count(data: Path, layer: str) -> int:
    from onemap.providers.store.base import today

    ref = Reference(data / "onemap.gpkg")
    fids, _, _ = ref.features(layer, ref.in_force(today()))
    return len(fids)


def test_serve_prints_the_url_and_serves_json(server, gdal_env):
    url, _ = server
    token = gdal_env["GDAL_HTTP_HEADERS"].split(": ", 1)[1]
    req = urllib.request.Request(url + "/collections/dltb/items?limit=2", headers={"Authorization": token})
    with urllib.request.urlopen(req) as r:
        doc = json.loads(r.read())
    assert doc["features"] and doc["links"][0]["href"].startswith(url)


def test_ogrinfo_feature_count(server, gdal_env):
    url, data = server
    out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}/collections/dltb", "dltb"],
                         capture_output=True, text=True, timeout=120, check=False, env=gdal_env)
    assert out.returncode == 0, out.stderr
    count = [ln for ln in out.stdout.splitlines() if ln.startswith("Feature Count:")]
    assert count and int(count[0].split(":")[1]) == expected_count(data, "dltb")


def test_gdal_reads_the_whole_layer_once(server, gdal_env, tmp_path):
    url, data = server
    dst = tmp_path / "copy.gpkg"
    out = subprocess.run(["ogr2ogr", "-f", "GPKG", str(dst), f"OAPIF:{url}/collections/dltb", "dltb",
                          "-oo", "PAGE_SIZE=1000"], capture_output=True, text=True, timeout=300,
                         check=False, env=gdal_env)
    assert out.returncode == 0, out.stderr
    _meta, _fids, _geoms, fields = pyogrio.raw.read(dst, read_geometry=False, columns=["BSM"])
    bsm = list(fields[0])
    assert len(bsm) == expected_count(data, "dltb")
    assert len(set(bsm)) == len(bsm)



def test_gdal_pages_with_the_advertised_maximum(demo_dir, tmp_path):
    """GDAL 3.8 and later (pyogrio's) take their page size from the OpenAPI document: the ``limit`` maximum of the
    path of the collection's items link (up to GDAL's own 1000). With a server maximum of 500 it asks for pages of
    500; with pygeoapi's ``?f=json`` in that link it found no path and asked for 1000 whatever the maximum. (The
    Debian ogrinfo here, GDAL 3.6, reads no maximum: it pages by 10 unless given -oo PAGE_SIZE.)"""
    import re
    import sys
    import urllib.parse

    data = tmp_path / "data"
    data.mkdir()
    copy_store(pristine(demo_dir), data / "onemap.gpkg")
    shutil.copyfile(demo_dir / "dem.tif", data / "dem.tif")
    with serve({"ONEMAP_DATA_DIR": str(data), "ONEMAP_MAX_ITEMS": "500", "ONEMAP_TILE_CACHE": "false"}) as url:
        # GDAL's debug output names every URL it fetches (in a process of its own: GDAL opens its log once)
        read = (f"import pyogrio; print(len(pyogrio.raw.read({f'OAPIF:{url}/collections/xzq'!r}, layer='xzq', "
                "read_geometry=False, return_fids=True)[1]))")
        out = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "CPL_DEBUG": "ON"})
    assert out.returncode == 0 and int(out.stdout) > 0, out.stderr[-2000:]
    fetched = re.findall(r"Fetch\((\S*/collections/xzq/items\S*)\)", out.stderr)
    limits = [urllib.parse.parse_qs(urllib.parse.urlsplit(u).query).get("limit", ["10"])[0] for u in fetched]
    # (the first request, for the layer's fields, is GDAL's own small one)
    assert limits and limits[-1] == "500", fetched

# ---- vector tiles, read by GDAL ---------------------------------------------------------------------
def _tile(tms_id: str, z: int) -> tuple[int, int]:
    from onemap.tiles import tms as tmsmod

    t = tmsmod.get(tms_id).tile(117.066, 31.483, z)
    return t.y, t.x


def _ogrinfo_extent(out: str) -> tuple[float, float, float, float]:
    line = next(ln for ln in out.splitlines() if ln.startswith("Extent:"))
    nums = [float(v) for v in line.replace("Extent:", "").replace("(", " ").replace(")", " ")
            .replace(",", " ").replace("-", " - ").split() if v not in ("-",)]
    return tuple(nums)  # type: ignore[return-value]


@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"])
def test_gdal_mvt_driver_reads_a_tile_of_each_matrix_set(server, gdal_env, tms_id):
    """ogrinfo on the tile URL. GDAL's MVT driver georeferences a single tile from Z/X/Y on Web
    Mercator; for the geographic 2x1 grids (whose columns go beyond 2^z) the tile's corner and
    size are given as GEOREF_* open options."""
    from onemap.tiles import tms as tmsmod

    url, _ = server
    row, col = _tile(tms_id, 12)
    args = ["-oo", "Z=12", "-oo", f"X={col}", "-oo", f"Y={row}"]
    if tms_id != "WebMercatorQuad":
        x0, y0, x1, y1 = tmsmod.tile(tms_id, 12, row, col).lonlat
        args += ["-oo", f"GEOREF_TOPX={x0}", "-oo", f"GEOREF_TOPY={y1}", "-oo", f"GEOREF_TILEDIMX={x1 - x0}",
                 "-oo", f"GEOREF_TILEDIMY={y1 - y0}"]
    # the last path segment must not be a bare integer, or GDAL takes the URL for a directory
    src = f"MVT:/vsicurl/{url}/collections/dltb/tiles/{tms_id}/12/{row}/{col}?f=mvt"
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-so", *args, src], capture_output=True, text=True, timeout=60,
                         check=False, env=gdal_env)
    assert out.returncode == 0, out.stderr
    assert "Layer name: dltb" in out.stdout and "DLBM" in out.stdout
    count = int(next(ln for ln in out.stdout.splitlines() if ln.startswith("Feature Count:")).split(":")[1])
    assert count > 0
    if tms_id == "WebMercatorQuad":
        from pyproj import Transformer

        x0, y0, x1, y1 = _ogrinfo_extent(out.stdout)
        lon0, lat0 = Transformer.from_crs(3857, 4326, always_xy=True).transform(x0, y0)
        lon1, lat1 = Transformer.from_crs(3857, 4326, always_xy=True).transform(x1, y1)
    else:
        lon0, lat0, lon1, lat1 = _ogrinfo_extent(out.stdout)
    assert 116.9 < lon0 < 117.2 and 116.9 < lon1 < 117.2 and 31.3 < lat0 < 31.7 and 31.3 < lat1 < 31.7


def test_gdal_ogcapi_driver_opens_the_collection_tiles(server, gdal_env, request):
    """GDAL's OGC API driver on the collection. Debian 12's GDAL 3.6.2 compiles its vector-tile
    path out (its CMake tests OGR_ENABLE_DRIVER_GML before that option is defined), so the
    driver is exercised through the GDAL bundled with pyogrio."""
    url, _ = server
    # the OGC API driver sends headers of its own, which replace GDAL_HTTP_HEADERS; GDAL 3.9+ has a bearer option
    token = gdal_env["GDAL_HTTP_HEADERS"].rsplit(" ", 1)[1]
    pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": token})
    request.addfinalizer(lambda: pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": None, "GDAL_HTTP_BEARER": None}))
    ds = f"OGCAPI:{url}/collections/dltb"
    layers = [name for name, _ in pyogrio.list_layers(ds)]
    assert "Zoom level 12" in layers
    _meta, _fids, geoms, fields = pyogrio.raw.read(ds, layer="Zoom level 12", bbox=(117.05, 31.47, 117.08, 31.50),
                                                  columns=["DLBM", "plan_id"])
    assert len(geoms) > 0
    assert set(fields[1]) <= {f"{c}-county-survey-2023" for c in ("990102", "990121", "990122", "990123")}
    import shapely

    b = shapely.total_bounds(shapely.from_wkb(geoms))
    assert 116.9 < b[0] and b[2] < 117.25 and 31.3 < b[1] and b[3] < 31.7
