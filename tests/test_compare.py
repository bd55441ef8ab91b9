"""对比分析: the compare process against independent computations, on both backends.

Every expected figure is computed here: features read through the items API (HTTP, every page), unions,
differences and overlays with shapely, areas with pyproj's geodesic area on GRS80 (CGCS2000's ellipsoid).
Nothing here calls providers/compare.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict

import numpy as np
import pyogrio
import pytest
import shapely

from .auth import signed_in, token_for
from .conftest import eventually, get_json
from .test_statistics import close, m2, read_all

CITY_2021, CITY_2023 = "990100-city-master-2021", "990100-city-master-2023"
BEFORE, AFTER = "2023-06-01", "2024-01-01"  # either side of the 2023 revision (in force from 2023-09-01)
COUNTY = "990121"
SURVEY_2022, SURVEY_2023 = f"{COUNTY}-county-survey-2022", f"{COUNTY}-county-survey-2023"
REL = 1e-4  # 0.01 %


def execute(client, inputs: dict, status: int = 200, output: str | None = None, **kw):
    body: dict = {"inputs": inputs}
    if output:
        body["outputs"] = {output: {}}
    r = client.post("/processes/compare/execution", json=body, **kw)
    assert r.status_code == status, r.data[:400]
    return r


def compared(client, **inputs) -> dict:
    return json.loads(execute(client, inputs).data)


def union_of(client, query: str) -> shapely.Geometry:
    feats = read_all(client, f"/collections/czkfbj/items?{query}")
    assert feats
    return shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in feats])


def _check_moved_part(doc: dict, before: shapely.Geometry, after: shapely.Geometry, demo_meta: dict) -> None:
    added, removed = m2(shapely.difference(after, before)), m2(shapely.difference(before, after))
    assert added > 1e5 and removed > 1e5  # the revision moves a real part of the boundary
    s = doc["summary"]
    assert close(s["added_m2"], added, REL), (s["added_m2"], added)
    assert close(s["removed_m2"], removed, REL), (s["removed_m2"], removed)
    assert s["added_ha"] == round(s["added_m2"] / 1e4, 4) and close(s["removed_mu"], s["removed_m2"] * 0.0015, 1e-6)
    # the pieces are where the demo moved the boundary
    pieces = {k: shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in doc["changes"]["features"]
                                    if f["properties"]["change"] == k]) for k in ("added", "removed")}
    assert pieces["added"].covers(shapely.Point(demo_meta["czkfbj_2023_only_point"]))
    assert pieces["removed"].covers(shapely.Point(demo_meta["czkfbj_2021_only_point"]))
    assert close(m2(pieces["added"]), added, REL) and close(m2(pieces["removed"]), removed, REL)


def test_the_city_plans_2021_and_2023_differ_by_the_moved_boundary(client, demo_meta):
    doc = compared(client, layer="czkfbj", **{"from": CITY_2021, "to": CITY_2023})
    before, after = union_of(client, f"plan_id={CITY_2021}"), union_of(client, f"plan_id={CITY_2023}")
    _check_moved_part(doc, before, after, demo_meta)
    assert doc["from"]["plan_id"] == CITY_2021 and doc["to"]["plans"] == [CITY_2023] and doc["field"] == "GHFQDM"
    # the transitions: kept zones on the diagonal, the moved parts in the None row and column
    cells = {(t["from"], t["to"]): t["m2"] for t in doc["transitions"]}
    assert close(sum(v for (a, b), v in cells.items() if a is None), doc["summary"]["added_m2"], REL)
    assert close(sum(v for (a, b), v in cells.items() if b is None), doc["summary"]["removed_m2"], REL)
    kept = m2(shapely.intersection(before, after))
    assert close(sum(v for (a, b), v in cells.items() if a is not None and b is not None), kept, REL)


def test_two_dates_either_side_of_the_revision_show_the_same_move(client, demo_meta):
    doc = compared(client, layer="czkfbj", **{"from": BEFORE, "to": AFTER})
    before = union_of(client, f"view=governing&datetime={BEFORE}")
    after = union_of(client, f"view=governing&datetime={AFTER}")
    _check_moved_part(doc, before, after, demo_meta)
    assert doc["from"]["view"] == "governing" and CITY_2021 in doc["from"]["plans"]
    assert CITY_2023 in doc["to"]["plans"] and CITY_2021 not in doc["to"]["plans"]
    by_plan = compared(client, layer="czkfbj", **{"from": CITY_2021, "to": CITY_2023})
    for key in ("added_m2", "removed_m2"):
        assert close(doc["summary"][key], by_plan["summary"][key], REL)


def _overlay(client, a: str, b: str) -> dict[tuple, float]:
    """(DLBM in a, DLBM in b) -> m² where a parcel of a meets a parcel of b; None for no parcel there."""
    fa = read_all(client, f"/collections/dltb/items?plan_id={a}")
    fb = read_all(client, f"/collections/dltb/items?plan_id={b}")
    ga = np.array([shapely.geometry.shape(f["geometry"]) for f in fa], dtype=object)
    gb = np.array([shapely.geometry.shape(f["geometry"]) for f in fb], dtype=object)
    tree = shapely.STRtree(gb)
    cells: dict[tuple, float] = defaultdict(float)
    for i, g in enumerate(ga):
        for j in tree.query(g, predicate="intersects"):
            part = shapely.intersection(g, gb[j])
            if part.area > 0:
                cells[(fa[i]["properties"]["DLBM"], fb[j]["properties"]["DLBM"])] += m2(part)
    ua, ub = shapely.union_all(ga), shapely.union_all(gb)
    cells[("", "added")] = m2(shapely.difference(ub, ua))
    cells[("", "removed")] = m2(shapely.difference(ua, ub))
    return cells


def _check_cells(doc: dict, want: dict[tuple, float]) -> None:
    got = {(t["from"], t["to"]): t["m2"] for t in doc["transitions"]}
    real = {k: v for k, v in want.items() if k[0] and v > 0.5}  # a shared edge's rounding is no cell
    assert {k for k, v in got.items() if k[0] is not None and k[1] is not None and v > 0.5} == set(real)
    for key, area in real.items():
        assert close(got[key], area, REL), (key, got[key], area)
    changed = sum(v for (a, b), v in real.items() if a != b)
    assert changed > 1e4 and close(doc["summary"]["changed_m2"], changed, REL)
    assert close(doc["summary"]["added_m2"], want[("", "added")], REL, floor=1.0)
    assert close(doc["summary"]["removed_m2"], want[("", "removed")], REL, floor=1.0)


def test_a_county_survey_2022_to_2023_against_an_overlay_of_the_parcels(client):
    want = _overlay(client, SURVEY_2022, SURVEY_2023)
    doc = compared(client, layer="dltb", **{"from": SURVEY_2022, "to": SURVEY_2023})
    assert doc["field"] == "DLBM" and all(t["from_label"] for t in doc["transitions"] if t["from"])
    _check_cells(doc, want)
    # re-coded parcels carry new BSMs (as the annual update numbers them): removed and added as features
    counts = doc["features"]["counts"]
    assert counts["added"] == counts["removed"] > 0 and counts["unchanged"] > 10 * counts["added"]
    # the same question by two dates and the county as area
    by_date = compared(client, layer="dltb", area=COUNTY, **{"from": "2023-01-01", "to": AFTER})
    assert by_date["area"]["region"] == COUNTY
    _check_cells(by_date, want)


def test_the_report_and_the_geopackage_hold_the_same_figures(client):
    inputs = {"layer": "czkfbj", "from": CITY_2021, "to": CITY_2023}
    doc = compared(client, **inputs)
    html = execute(client, inputs, output="report").data.decode()
    assert "对比分析" in html and f"{doc['summary']['added_ha']:.4f}" in html and "http" not in html.split("<body>")[0]
    r = execute(client, inputs, output="changes")
    assert r.mimetype == "application/geopackage+sqlite3"
    meta, _, geoms, fields = pyogrio.raw.read(io.BytesIO(r.data))
    cols = dict(zip(meta["fields"], fields))
    assert len(geoms) == len(doc["changes"]["features"]) and meta["crs"] == "EPSG:4490"
    for kind in ("added", "removed"):
        total = sum(float(v) for c, v in zip(cols["change"], cols["m2"]) if c == kind)
        assert close(total, doc["summary"][f"{kind}_m2"], REL)


def test_it_runs_as_a_job(client):
    inputs = {"layer": "czkfbj", "from": BEFORE, "to": AFTER}
    r = execute(client, inputs, status=201, headers={"Prefer": "respond-async"})
    job = r.headers["Location"].rsplit("/", 1)[1]

    def done():
        status = get_json(client, f"/jobs/{job}")["status"]
        return None if status in ("accepted", "running") else status

    assert eventually(done) == "successful"
    assert get_json(client, f"/jobs/{job}/results")["summary"] == compared(client, **inputs)["summary"]


# ---- refusals -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("inputs", "status"), [
    ({"layer": "nope", "from": BEFORE, "to": AFTER}, 404),
    ({"layer": "plans", "from": BEFORE, "to": AFTER}, 404),
    ({"layer": "czkfbj", "from": AFTER, "to": AFTER}, 400),
    ({"layer": "czkfbj", "from": CITY_2021, "to": CITY_2021}, 400),
    ({"layer": "czkfbj", "from": "2023-13-01", "to": AFTER}, 400),
    ({"layer": "czkfbj", "from": "2023-1-1", "to": AFTER}, 400),
    ({"layer": "czkfbj", "from": BEFORE, "to": "2024/01/01"}, 400),
    ({"layer": "czkfbj", "from": BEFORE, "to": "990100-city-master-1999"}, 404),
    ({"layer": "czkfbj", "from": BEFORE, "to": "<script>"}, 400),
    ({"layer": "czkfbj", "from": SURVEY_2022, "to": AFTER}, 400),  # a survey holds no urban boundary
    ({"layer": "czkfbj", "from": BEFORE, "to": AFTER, "field": "NOPE"}, 400),
    ({"layer": "czkfbj", "from": BEFORE, "to": AFTER, "area": "990199"}, 400),
    ({"layer": "czkfbj", "from": BEFORE}, 400),
    ({"layer": "czkfbj", "from": BEFORE, "to": AFTER, "extra": 1}, 400),
])
def test_bad_inputs_are_refused_before_anything_runs(client, inputs, status):
    before = get_json(client, "/jobs?limit=1000")["jobs"]
    r = execute(client, inputs, status=status)
    body = json.loads(r.data)
    assert body["code"] in ("InvalidParameterValue", "InvalidInput", "NotFound")
    assert "Traceback" not in body["description"] and "SELECT" not in body["description"]
    assert len(get_json(client, "/jobs?limit=1000")["jobs"]) == len(before)


def test_layers_and_entries_the_caller_may_not_read_do_not_exist_for_them(app, anonymous):
    # compare is for signed-in callers (the process does not exist for an anonymous one), each of them comparing
    # the layers of their tier and nothing above it
    r = execute(anonymous, {"layer": "czkfbj", "from": CITY_2021, "to": CITY_2023}, status=404)
    assert json.loads(r.data)["description"] == "no process 'compare'"
    store = app.extensions["onemap"].store
    partner = signed_in(app.test_client(), token_for(store, "partner"))
    assert execute(partner, {"layer": "czkfbj", "from": CITY_2021, "to": CITY_2023}).status_code == 200
    r = execute(partner, {"layer": "stbhhx", "from": BEFORE, "to": AFTER}, status=404)
    assert json.loads(r.data)["description"] == "collection 'stbhhx' does not exist"
    execute(partner, {"layer": "stbhhx", "from": "x", "to": "x"}, status=404)  # the tier before any other check
    assert execute(partner, {"layer": "dltb", "from": SURVEY_2022, "to": SURVEY_2023}).status_code == 200
    # a submission under review is the internal tier's
    submitted = "990123-county-master-2025"
    execute(partner, {"layer": "czkfbj", "from": "990123-county-master-2022", "to": submitted}, status=404)
    internal = signed_in(app.test_client(), token_for(store, "internal"))
    doc = compared(internal, layer="czkfbj", **{"from": "990123-county-master-2022", "to": submitted})
    assert doc["to"]["plan_id"] == submitted


def test_survey_years_and_every_layer(client):
    """from/to as survey years are the dates those surveys came into force; layer=all compares every layer the
    caller reads, each as the one-layer comparison does."""
    by_year = compared(client, layer="dltb", **{"from": "2022", "to": "2023"}, area=COUNTY)
    by_plan = compared(client, layer="dltb", **{"from": SURVEY_2022, "to": SURVEY_2023}, area=COUNTY)
    assert by_year["summary"] == by_plan["summary"] and by_year["summary"]["changed_m2"] > 0
    assert by_year["from"]["date"] == get_json(client, f"/plans/{SURVEY_2022}/trace")["periods"][0]["from"]
    every = compared(client, layer="all", **{"from": "2022", "to": "2023"}, area=COUNTY)
    assert {"dltb", "czkfbj", "stbhhx"} <= set(every["layers"]) and "plans" not in every["layers"]
    assert every["layers"]["dltb"]["summary"] == by_year["summary"]
    one = compared(client, layer="czkfbj", **{"from": "2022", "to": "2023"}, area=COUNTY)
    assert every["layers"]["czkfbj"]["summary"] == one["summary"]
    # a survey entry names only the survey's layers; JSON only for every layer; a year not held is a 400
    surveys = compared(client, layer="all", **{"from": SURVEY_2022, "to": SURVEY_2023})
    assert set(surveys["layers"]) == {"dltb", "xzq"}
    execute(client, {"layer": "all", "from": "2022", "to": "2023"}, status=400, output="report")
    execute(client, {"layer": "dltb", "from": "2019", "to": "2023"}, status=400)
    # a partner's every-layer comparison has no internal layer (the red line)
    partner = signed_in(client.application.test_client(), token_for(client.application.extensions["onemap"].store,
                                                                    "partner"))
    theirs = json.loads(execute(partner, {"layer": "all", "from": "2022", "to": "2023", "area": COUNTY}).data)
    assert "stbhhx" not in theirs["layers"] and "dltb" in theirs["layers"]
