"""A one map small enough to compute by hand: a few lon/lat rectangles in two plan versions.

The region 880100 (a test city at 117.00-117.08 E, 31.40-31.45 N) has:

- a land survey (2022): paddy field 0101 west of 117.03 E, industrial land 0601 east of it;
- the city master plan 2021 (in force 2021-06-01 .. 2023-09-01) and its 2023 revision (from
  2023-09-01). Both carry the red line RED, the farmland FARM and planning zones; the urban
  development boundary grows from CZK_2021 to CZK_2023, and the planned land use of the
  central city covers each version's boundary with industrial 1001 (the 2023 revision also has
  a strip of urban residential 0701 at its east end).

Every area a test expects is the geodesic area of a lon/lat rectangle on the CGCS2000 ellipsoid,
worked out with the closed formula in :func:`quad_area`, not with the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import shapely

from onemap.config.catalogue import get_catalogue
from onemap.providers.store import Store
from onemap.providers.store.base import FeatureBatch, Plan

Rect = tuple[float, float, float, float]  # lon0, lat0, lon1, lat1

REGION = "880100"
SURVEY = "880000-province-survey-2022"
MASTER_2021 = "880100-city-master-2021"
MASTER_2023 = "880100-city-master-2023"
REVISION_DAY = dt.date(2023, 9, 1)

RED: Rect = (117.000, 31.400, 117.020, 31.420)
FARM: Rect = (117.000, 31.430, 117.020, 31.450)
CZK_2021: Rect = (117.030, 31.400, 117.060, 31.430)
CZK_2023: Rect = (117.030, 31.400, 117.080, 31.430)
RESIDENTIAL_2023: Rect = (117.075, 31.400, 117.080, 31.430)
PADDY: Rect = (117.000, 31.400, 117.030, 31.450)
INDUSTRIAL_LAND: Rect = (117.030, 31.400, 117.080, 31.450)

# CGCS2000 ellipsoid
A = 6378137.0
F = 1 / 298.257222101


def quad_area(r: Rect) -> float:
    """Area (m²) of the ellipsoidal quadrangle between two meridians and two parallels.

    A = b² Δλ [g(φ1) - g(φ0)], g(φ) = sin φ / (2 (1 - e² sin² φ)) + atanh(e sin φ) / (2 e).
    """
    e2 = F * (2 - F)
    e = math.sqrt(e2)
    b2 = (A * (1 - F)) ** 2

    def g(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (2 * (1 - e2 * s * s)) + math.atanh(e * s) / (2 * e)

    return b2 * math.radians(r[2] - r[0]) * (g(r[3]) - g(r[1]))


def intersect(a: Rect, b: Rect) -> Rect | None:
    r = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return r if r[0] < r[2] and r[1] < r[3] else None


def box(r: Rect) -> shapely.Polygon:
    return shapely.box(*r)


def geojson(r: Rect) -> dict[str, Any]:
    x0, y0, x1, y1 = r
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _batch(layer_id: str, plan_id: str, rects: list[Rect], **values: list[Any]) -> FeatureBatch:
    """A batch whose unnamed required columns get plausible values."""
    layer = get_catalogue().layers[layer_id]
    n = len(rects)
    cols: dict[str, list[Any]] = {}
    for f in layer.fields:
        if f.name in values:
            cols[f.name] = list(values[f.name])
        elif f.name == "BSM":
            cols[f.name] = [f"{layer_id.upper()}{plan_id[-4:]}{i:04d}" for i in range(n)]
        elif f.name in ("MJ", "TBMJ"):
            cols[f.name] = [round(quad_area(r), 2) for r in rects]
        elif f.name == "XZQDM" or f.name == "ZLDWDM":
            cols[f.name] = [REGION] * n
        elif f.name == "XZQMC" or f.name == "ZLDWMC":
            cols[f.name] = ["测试市"] * n
        elif f.required:
            cols[f.name] = [f"{f.name}{i}" for i in range(n)]
        else:
            cols[f.name] = [None] * n
    geoms = np.array([shapely.MultiPolygon([box(r)]) for r in rects], dtype=object)
    return FeatureBatch(layer_id=layer_id, plan_id=plan_id, columns=cols, geometry=geoms)


def master_batches(plan_id: str, czk: Rect, planned: list[tuple[Rect, str, str]],
                   zones: list[tuple[Rect, str, str]]) -> list[FeatureBatch]:
    return [
        _batch("stbhhx", plan_id, [RED], HXBM=["RED1"], HXMC=["测试生态保护红线"], HXLX=["生态功能极重要区"]),
        _batch("yjjbnt", plan_id, [FARM], BHPKBH=["BH01"], DLBM=["0101"], DLMC=["水田"]),
        _batch("czkfbj", plan_id, [czk], GHFQDM=["211"], GHFQMC=["城镇集中建设区"]),
        _batch("ghfq", plan_id, [z[0] for z in zones], GHFQDM=[z[1] for z in zones],
               GHFQMC=[z[2] for z in zones]),
        _batch("zxcqghydyh", plan_id, [p[0] for p in planned], YDYHFLDM=[p[1] for p in planned],
               YDYHFLMC=[p[2] for p in planned], YDYHBB=["2023"] * len(planned)),
        # the plan holds these lines and draws none in the city: "none here", not "unknown"
        _batch("lswhbhx", plan_id, []),
        _batch("hlfxkzx", plan_id, []),
    ]


def build(store: Store) -> None:
    """Replace the store's contents with the hand-made map."""
    tz = dt.timezone(dt.timedelta(hours=8))
    outline = shapely.box(117.0, 31.4, 117.08, 31.45)
    plans = [
        Plan(SURVEY, "880000", "province", "survey", "2022", "测试省2022年度国土变更调查", "filed",
             valid_from=dt.date(2022, 1, 1), submitted_by="test", submitted_at=dt.datetime(2022, 1, 1, tzinfo=tz),
             outline=outline),
        Plan(MASTER_2021, REGION, "city", "master", "2021", "测试市国土空间总体规划", "superseded",
             approval_no="测政函〔2021〕1号", approval_date=dt.date(2021, 5, 20), valid_from=dt.date(2021, 6, 1),
             valid_to=REVISION_DAY, submitted_by="test", submitted_at=dt.datetime(2021, 5, 1, tzinfo=tz),
             outline=outline),
        Plan(MASTER_2023, REGION, "city", "master", "2023", "测试市国土空间总体规划（2023年修订）", "filed",
             approval_no="测政函〔2023〕9号", approval_date=dt.date(2023, 8, 15), valid_from=REVISION_DAY,
             submitted_by="test", submitted_at=dt.datetime(2023, 8, 1, tzinfo=tz), outline=outline),
    ]
    west = (117.000, 31.400, 117.030, 31.450)
    batches = [
        _batch("dltb", SURVEY, [PADDY, INDUSTRIAL_LAND], DLBM=["0101", "0601"], DLMC=["水田", "工业用地"],
               TBBH=["1", "2"]),
        *master_batches(MASTER_2021, CZK_2021, [(CZK_2021, "1001", "工业用地")],
                        [(west, "11", "生态保护区"), (CZK_2021, "211", "城镇集中建设区")]),
        *master_batches(MASTER_2023, CZK_2023,
                        [((CZK_2023[0], CZK_2023[1], RESIDENTIAL_2023[0], CZK_2023[3]), "1001", "工业用地"),
                         (RESIDENTIAL_2023, "0701", "城镇住宅用地")],
                        [(west, "11", "生态保护区"), (CZK_2023, "211", "城镇集中建设区")]),
    ]
    store.init_schema()
    store.write(plans, batches, replace_all=True, events=[])
