"""Rendered maps (issue 15): the renderer chosen against the alternative, and what a map costs.

    .venv/bin/python -m bench.maps [--data DIR] [--rounds 6] [--seconds 2]

On the demo data (built into a temporary directory unless ``--data`` names one), in one
process, alternated rounds (A B B A ...) so that a busy machine slows both sides alike:

1. **Renderer**: the same decoded vector tiles drawn by Skia (``server/map_render.py``) and by
   Pillow's ImageDraw at 4x supersampling, the only way Pillow anti-aliases, reduced with a
   box filter (no dashes, no line joins: it draws less than Skia). Tiles: the survey at z14
   and z12 and the planning zones at z11 around the central city.
2. **Serving**: a map tile drawn (no cache), a map tile from the cache, the vector tile it is
   drawn from (cached), and a 1024 x 768 WMS GetMap with its vector tiles decoded already
   (a box near one shown before) and decoded afresh, in requests/s through the WSGI app.

Figures are printed as a table with the ratio of each pair; timings never go into tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4


def _pillow(renderer, layer, box, view) -> np.ndarray:
    """The comparison renderer: the layer's fill and outline colours by Pillow at 4x, then reduced."""
    from onemap.server.map_render import EXTENT, _rings, evaluate

    w, h = box.size
    img = Image.new("RGBA", (w * SUPERSAMPLE, h * SUPERSAMPLE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img, "RGBA")
    refs = renderer.covering(box)
    x0, y0, x1, y1 = box.bbox
    sx, sy = w * SUPERSAMPLE / (x1 - x0), h * SUPERSAMPLE / (y1 - y0)
    zoom = box.zoom
    fill_sl = next(s for s in renderer.style_layers(layer) if s["type"] == "fill")
    line_sl = next(s for s in renderer.style_layers(layer) if s["type"] == "line")
    for ref in refs:
        tx0, ty0, tx1, ty1 = ref.native
        a, c = (tx1 - tx0) / EXTENT * sx, (tx0 - x0) * sx
        b, d = (ty1 - ty0) / EXTENT * sy, (y1 - ty1) * sy
        for feat in renderer.decoded(layer, ref, view):
            props = feat.get("properties") or {}
            color = evaluate(fill_sl["paint"]["fill-color"], props, zoom).lstrip("#")
            alpha = round(255 * float(evaluate(fill_sl["paint"].get("fill-opacity", 1), props, zoom)))
            rgba = (int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16), alpha)
            line = evaluate(line_sl["paint"]["line-color"], props, zoom).lstrip("#")
            width = max(1, round(float(evaluate(line_sl["paint"].get("line-width", 1), props, zoom)) * SUPERSAMPLE))
            for rings, _closed in _rings(feat["geometry"]):
                for ring in rings:
                    pts = [(x * a + c, y * b + d) for x, y in ring]
                    if len(pts) >= 3:
                        draw.polygon(pts, fill=rgba)
                        draw.line(pts, fill=(int(line[0:2], 16), int(line[2:4], 16), int(line[4:6], 16), 255),
                                  width=width)
    return np.asarray(img.resize((w, h), Image.Resampling.BOX))


def _rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def alternated(a: Callable[[], object], b: Callable[[], object], rounds: int, seconds: float) -> tuple[float, float]:
    """Median calls/s of ``a`` and ``b`` over alternated rounds (A B B A ...)."""
    ra, rb = [], []
    for i in range(rounds):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        x, y = _rate(first, seconds), _rate(second, seconds)
        (ra if first is a else rb).append(x)
        (rb if second is b else ra).append(y)
    return statistics.median(ra), statistics.median(rb)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="a data directory with the demo (default: build one)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)
    data = args.data
    if data is None:
        data = tempfile.mkdtemp(prefix="onemap-bench-maps-")
        subprocess.run([sys.executable, "-m", "onemap.server.cli", "demo", "--quiet"], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "ONEMAP_DATA_DIR": data})

    from onemap.config.settings import Settings
    from onemap.server.app import create_app
    from onemap.server.map_render import MapBox, MapView
    from onemap.tiles import tms as tmsmod

    from .servers import BENCH_ACCESS, public_catalogue

    # no rate limit: an in-process client is one caller, and a 429 would be timed as an answer
    os.environ.update(BENCH_ACCESS)

    # every layer in the public tier, as the other benchmarks serve them (the survey is a partner layer)
    catalogue = public_catalogue(Path(tempfile.mkdtemp(prefix="onemap-bench-maps-")))
    app = create_app(Settings(data_dir=Path(data), catalogue=catalogue))
    om = app.extensions["onemap"]
    r = om.maps
    view = MapView()
    central = (117.066, 31.483)
    rows = []
    for lid, z in (("dltb", 14), ("dltb", 12), ("ghfq", 11)):
        t = tmsmod.get("WebMercatorQuad").tile(*central, z)
        ref = tmsmod.tile("WebMercatorQuad", z, t.y, t.x)
        box = MapBox("WebMercatorQuad", ref.native, (256, 256))
        layer = om.catalogue.layers[lid]
        decoded = [(layer, [(ref, r.decoded(layer, ref, view))])]  # decoded once: drawing alone is timed
        n = len(decoded[0][1][0][1])
        skia_rate, pil_rate = alternated(lambda d=decoded, b=box: r.paint(d, b),
                                         lambda lyr=layer, b=box: _pillow(r, lyr, b, view), args.rounds, args.seconds)
        rows.append((f"draw {lid} z{z} ({n} features)", "Skia", skia_rate, "Pillow 4x", pil_rate))

    c = app.test_client()
    t = tmsmod.get("WebMercatorQuad").tile(*central, 14)
    tile = f"/collections/dltb/map/tiles/WebMercatorQuad/14/{t.y}/{t.x}"
    vector = f"/collections/dltb/tiles/WebMercatorQuad/14/{t.y}/{t.x}"
    wms = ("/basemaps/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&LAYERS=dltb&STYLES=&SRS=EPSG:3857"
           "&BBOX=13016000,3690000,13040000,3708000&WIDTH=1024&HEIGHT=768&FORMAT=image/png&TRANSPARENT=true")
    for u in (tile, vector, wms):
        assert c.get(u).status_code == 200, u

    def get(url: str) -> None:
        assert c.get(url).status_code == 200, url
    cache = r.cache

    def cold() -> None:
        r.cache = None  # drawn every time, from the cached vector tile
        try:
            resp = c.get(tile)
        finally:
            r.cache = cache
        assert resp.status_code == 200 and resp.headers["X-Cache"] == "OFF", resp.status_code

    cold_rate, cached_rate = alternated(cold, lambda: get(tile), args.rounds, args.seconds)
    rows.append(("map tile z14 survey", "drawn", cold_rate, "cached", cached_rate))
    cached_rate2, vector_rate = alternated(lambda: get(tile), lambda: get(vector), args.rounds, args.seconds)
    rows.append(("z14 survey, cached", "map tile (PNG)", cached_rate2, "vector tile", vector_rate))
    def wms_fresh() -> None:
        r._decoded.clear()  # every vector tile decoded again, as for a box no map has shown yet
        get(wms)

    wms_rate, fresh_rate = alternated(lambda: get(wms), wms_fresh, args.rounds, args.seconds)
    rows.append(("WMS GetMap 1024x768 survey z13", "tiles decoded", wms_rate, "decoding", fresh_rate))

    print(f"{'what':44} {'A':>16} {'/s':>8} {'B':>16} {'/s':>8} {'A/B':>6}")
    for what, an, av, bn, bv in rows:
        print(f"{what:44} {an:>16} {av:8.1f} {bn:>16} {bv:8.1f} {av / bv:6.2f}")


if __name__ == "__main__":
    main()
