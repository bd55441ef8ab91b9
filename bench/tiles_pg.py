"""Issue 4: OneMap's tile throughput on a million-parcel PostGIS region.

    .venv/bin/python -m bench.tiles_pg [--parcels 1000000] [--duration 20] [--database URL --skip-load]

Vector tiles (MVT, WebMercatorQuad, layer dltb) at z8, z12 and z14, cold (tile cache
emptied, each distinct tile requested once) and cached (the same tiles again, wrk for
--duration seconds), and cached WMTS basemap tiles (MapProxy, warmed first). It is
bench/compare.py with OneMap alone and the tile kinds; every other option is passed on.
"""

from __future__ import annotations

import sys

from . import compare

TILE_KINDS = ("tile-z8-cold", "tile-z8-cached", "tile-z12-cold", "tile-z12-cached", "tile-z14-cold",
              "tile-z14-cached", "wmts")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    for opt in ("--servers", "--kinds"):
        if any(a == opt or a.startswith(opt + "=") for a in argv):
            print(f"bench.tiles_pg: {opt} is fixed here (use bench.compare for other choices)", file=sys.stderr)
            return 2
    return compare.main([*argv, "--servers", "onemap", "--kinds", ",".join(TILE_KINDS)])


if __name__ == "__main__":
    sys.exit(main())
