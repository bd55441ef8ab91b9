"""The demo-region generator (onemap.server.demo) at 3,000 parcels."""

from __future__ import annotations

import datetime

import numpy as np
import pyproj
import pytest
import rasterio
import shapely

from onemap.config.catalogue import get_catalogue
from onemap.server.demo import generate, slope_degrees

N = 3000
SEED = 7
GEOD = pyproj.Geod(ellps="GRS80")
AREA_TOL = 1e-12  # deg² (about 0.01 m² here): "zero area" for overlays of shared edges


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    calls = []
    r = generate(N, SEED, tmp_path_factory.mktemp("a"), progress=lambda s, f: calls.append((s, f)))
    r.meta["_progress"] = calls
    return r


@pytest.fixture(scope="module")
def region_again(tmp_path_factory):
    return generate(N, SEED, tmp_path_factory.mktemp("b"))


@pytest.fixture(scope="module")
def region_other(tmp_path_factory):
    return generate(N, SEED + 1, tmp_path_factory.mktemp("c"))


@pytest.fixture(scope="module")
def cat():
    return get_catalogue()


def batch(region, plan_id, layer_id):
    b = region.batch(plan_id, layer_id)
    assert b is not None, f"{plan_id} has no {layer_id}"
    return b


COUNTY_CODES = ("990102", "990121", "990122", "990123")


def survey(region, year: int, layer_id: str):
    """The whole region's survey layer of one year: the county entries' batches (and the province's
    summary for the regions above the counties), one after the other."""
    pids = [f"{c}-county-survey-{year}" for c in COUNTY_CODES] + [f"990000-province-survey-{year}"]
    found = [b for b in (region.batch(pid, layer_id) for pid in pids) if b is not None]
    assert found, f"no {layer_id} in the {year} survey"
    cols = {k: [v for b in found for v in list(b.columns[k])] for k in found[0].columns}
    from onemap.server.demo.model import LayerBatch

    return LayerBatch(layer_id, f"survey-{year}", cols, np.concatenate([b.geometry for b in found]))


def union(geoms):
    return shapely.union_all(np.asarray(geoms, dtype=object))


def geod_area(g) -> float:
    total = 0.0
    for p in shapely.get_parts(g):
        total += abs(GEOD.polygon_area_perimeter(*np.asarray(p.exterior.coords).T)[0])
        for ring in p.interiors:
            total -= abs(GEOD.polygon_area_perimeter(*np.asarray(ring.coords).T)[0])
    return total


def fingerprint(region):
    out = []
    for p in region.plans:
        d = {k: v for k, v in vars(p).items() if k != "outline"}
        out.append((repr(d), shapely.to_wkb(p.outline)))
    for b in region.batches:
        cols = {k: (v.tolist() if isinstance(v, np.ndarray) else list(v)) for k, v in b.columns.items()}
        out.append((b.layer_id, b.plan_id, repr(cols), shapely.to_wkb(b.geometry).tolist()))
    return out


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_identical_output(region, region_again):
    assert fingerprint(region) == fingerprint(region_again)
    with rasterio.open(region.dem_path) as a, rasterio.open(region_again.dem_path) as b:
        assert np.array_equal(a.read(1), b.read(1))
    meta_a = {k: v for k, v in region.meta.items() if k not in ("dem", "_progress")}
    meta_b = {k: v for k, v in region_again.meta.items() if k != "dem"}
    assert meta_a == meta_b


def test_other_seed_differs(region, region_other):
    a = survey(region, 2022, "dltb")
    b = survey(region_other, 2022, "dltb")
    assert len(a) == len(b) == N
    assert shapely.to_wkb(a.geometry).tolist() != shapely.to_wkb(b.geometry).tolist()
    assert a.columns["DLBM"] != b.columns["DLBM"]


def test_progress_is_reported(region):
    calls = region.meta["_progress"]
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and calls[-1] == ("done", 1.0)


# --- attributes --------------------------------------------------------------------------


def test_columns_are_exactly_the_catalogue_fields(region, cat):
    for b in region.batches:
        names = [f.name for f in cat.layer(b.layer_id).fields]
        assert list(b.columns) == names, (b.plan_id, b.layer_id)
        for name, values in b.columns.items():
            assert len(values) == len(b.geometry), (b.plan_id, b.layer_id, name)


def test_values_types_codes_and_labels(region, cat):
    for b in region.batches:
        layer = cat.layer(b.layer_id)
        n = len(b.geometry)
        bsm = list(b.columns["BSM"])
        assert len(set(bsm)) == n, (b.plan_id, b.layer_id, "BSM not unique")
        assert all(isinstance(v, str) and len(v) <= 18 for v in bsm)
        for i in range(n):
            record = {k: v[i] for k, v in b.columns.items()}
            for f in layer.fields:
                v = record[f.name]
                if v is None:
                    assert not f.required, (b.layer_id, f.name, i)
                    continue
                if f.type == "string":
                    assert isinstance(v, str), (b.layer_id, f.name, v)
                    assert f.length is None or len(v) <= f.length, (b.layer_id, f.name, v)
                elif f.type == "number":
                    assert isinstance(v, (float, np.floating)) and v > 0, (b.layer_id, f.name, v)
                table = cat.code_table_for(layer, f, record)
                if f.code_table:
                    assert table is not None and v in table, (b.layer_id, f.name, v)
                    if f.label_field:
                        assert record[f.label_field] == table.label(v), (b.layer_id, f.name, v)


def test_dltb_fields(region):
    b = survey(region, 2022, "dltb")
    cols = b.columns
    towns = {t["code"]: t["name"] for t in region.meta["townships"]}
    for i in range(len(b)):
        assert cols["YSDM"][i] is None
        assert cols["ZLDWDM"][i][:9] in towns and cols["ZLDWDM"][i].endswith("000") and len(cols["ZLDWDM"][i]) == 12
        assert cols["ZLDWMC"][i] == towns[cols["ZLDWDM"][i][:9]]
        assert cols["BSM"][i][:6] == cols["ZLDWDM"][i][:6] and cols["BSM"][i][6:10] == "2001"
        assert cols["TBBH"][i].isdigit() and len(cols["TBBH"][i]) <= 8
        cropland = cols["DLBM"][i].startswith("01")
        assert (cols["GDPDJB"][i] is not None) == cropland
        if cropland:
            assert cols["GDPDJB"][i] in {"1", "2", "3", "4", "5"}
        assert cols["CZCSXM"][i] in {None, "201", "202", "203"}
        if cols["DLBM"][i] == "0702":
            assert cols["CZCSXM"][i] == "203"
    # TBBH runs within each township
    pairs = set(zip(cols["ZLDWDM"], cols["TBBH"]))
    assert len(pairs) == len(b)
    # TBMJ is the geodesic area on GRS80
    for i in range(0, len(b), 97):
        assert cols["TBMJ"][i] == pytest.approx(geod_area(b.geometry[i]), rel=1e-9)


def test_xzq_hierarchy(region):
    b = survey(region, 2022, "xzq")
    c = b.columns
    rows = {c["XZQDM"][i]: i for i in range(len(b))}
    assert c["XZQJB"][rows["990000"]] == "province" and c["SJXZQDM"][rows["990000"]] is None
    assert c["SJXZQDM"][rows["990100"]] == "990000"
    counties = [k for k in rows if len(k) == 6 and k not in ("990000", "990100")]
    assert set(counties) >= {"990102", "990121", "990122", "990123"}
    assert c["XZQMC"][rows["990102"]] == "示范区"
    for county in counties:
        towns = [k for k in rows if len(k) == 9 and k.startswith(county)]
        assert 3 <= len(towns) <= 6, county
        for t in towns:
            assert c["SJXZQDM"][rows[t]] == county
            assert 1 <= int(t[6:]) <= 299
        # a county is the union of its townships
        assert sum(c["MJ"][rows[t]] for t in towns) == pytest.approx(c["MJ"][rows[county]], rel=1e-7)
    assert sum(c["MJ"][rows[k]] for k in counties) == pytest.approx(c["MJ"][rows["990100"]], rel=1e-7)
    assert c["MJ"][rows["990000"]] == c["MJ"][rows["990100"]]
    assert shapely.equals(b.geometry[rows["990000"]], b.geometry[rows["990100"]])
    lon0, lat0, lon1, lat1 = b.geometry[rows["990100"]].bounds
    assert 116.55 <= lon0 < 116.75 and 117.25 < lon1 <= 117.45
    assert 31.15 <= lat0 < 31.35 and 31.6 < lat1 <= 31.8


# --- geometry ----------------------------------------------------------------------------


def test_geometries_are_valid_multipolygons(region):
    for b in region.batches:
        g = b.geometry
        assert all(isinstance(x, shapely.MultiPolygon) for x in g), (b.plan_id, b.layer_id)
        assert shapely.is_valid(g).all(), (b.plan_id, b.layer_id)
        assert not shapely.is_empty(g).any(), (b.plan_id, b.layer_id)
        x0, y0, x1, y1 = shapely.total_bounds(g)
        assert 116.5 < x0 and x1 < 117.5 and 31.1 < y0 and y1 < 31.85, (b.plan_id, b.layer_id)
    for p in region.plans:
        assert isinstance(p.outline, shapely.MultiPolygon) and p.outline.is_valid


def test_parcels_tile_the_city(region):
    for year in (2022, 2023):
        b = survey(region, year, "dltb")
        assert len(b) == N
        xzq = survey(region, year, "xzq")
        city_mj = xzq.columns["MJ"][xzq.columns["XZQDM"].index("990100")]
        assert float(np.sum(b.columns["TBMJ"])) == pytest.approx(city_mj, rel=1e-4)
        u = union(b.geometry)
        assert u.area == pytest.approx(float(shapely.area(b.geometry).sum()), rel=1e-9)  # no overlaps
        city = xzq.geometry[xzq.columns["XZQDM"].index("990100")]
        assert shapely.symmetric_difference(u, city).area < 1e-9 * city.area


def test_survey_2023_changes_few_parcels(region):
    a = survey(region, 2022, "dltb")
    b = survey(region, 2023, "dltb")
    assert shapely.to_wkb(a.geometry).tolist() == shapely.to_wkb(b.geometry).tolist()
    changed = [i for i in range(N) if a.columns["DLBM"][i] != b.columns["DLBM"][i]]
    assert 0.01 * N <= len(changed) <= 0.02 * N
    old_bsm = set(a.columns["BSM"])
    for i in range(N):
        if i in set(changed):
            assert b.columns["BSM"][i] not in old_bsm
        else:
            assert b.columns["BSM"][i] == a.columns["BSM"][i]
    built = {"05H1", "0601", "0701", "08H2", "1004"}
    to_built = [i for i in changed if b.columns["DLBM"][i] in built]
    assert len(to_built) >= 0.8 * len(changed)
    assert all(a.columns["DLBM"][i] in {"0101", "0102", "0103", "0404"} for i in to_built)


def test_control_lines_never_overlap(region):
    red = union(batch(region, "990100-city-master-2021", "stbhhx").geometry)
    farm = union(batch(region, "990100-city-master-2021", "yjjbnt").geometry)
    assert shapely.intersection(red, farm).area < AREA_TOL
    for pid in ("990100-city-master-2021", "990100-city-master-2023", "990000-province-master-2021"):
        czk = union(batch(region, pid, "czkfbj").geometry)
        for pid2 in ("990100-city-master-2021", "990100-city-master-2023"):
            for layer in ("stbhhx", "yjjbnt"):
                other = union(batch(region, pid2, layer).geometry)
                assert shapely.intersection(czk, other).area < AREA_TOL, (pid, pid2, layer)
    for layer in ("stbhhx", "yjjbnt"):
        g21 = batch(region, "990100-city-master-2021", layer).geometry
        g23 = batch(region, "990100-city-master-2023", layer).geometry
        assert len(g21) > 0 and len(g23) > 0


def test_czkfbj_zones_and_revision(region):
    c21 = batch(region, "990100-city-master-2021", "czkfbj")
    c23 = batch(region, "990100-city-master-2023", "czkfbj")
    assert set(c21.columns["GHFQDM"]) == {"211", "212", "213"}
    assert set(c23.columns["GHFQDM"]) == {"211", "212", "213"}
    u21, u23 = union(c21.geometry), union(c23.geometry)
    added = shapely.Point(region.meta["czkfbj_2023_only_point"])
    released = shapely.Point(region.meta["czkfbj_2021_only_point"])
    assert u23.contains(added) and not u21.intersects(added)
    assert u21.contains(released) and not u23.intersects(released)
    # the province plan carries the city's 2021 boundary
    prov = batch(region, "990000-province-master-2021", "czkfbj")
    assert shapely.symmetric_difference(union(prov.geometry), u21).area < AREA_TOL


def test_ghfq_tiles_each_plan_region(region):
    xzq = survey(region, 2022, "xzq")
    area_of = dict(zip(xzq.columns["XZQDM"], xzq.columns["MJ"]))
    plans_with = [p for p in region.plans if region.batch(p.id, "ghfq") is not None]
    assert {p.id for p in plans_with} == {
        "990100-city-master-2021", "990100-city-master-2023",
        "990121-county-master-2022", "990122-county-master-2022", "990123-county-master-2022",
        "990122-county-master-2024", "990123-county-master-2025",
    }
    for p in plans_with:
        b = region.batch(p.id, "ghfq")
        assert float(np.sum(b.columns["MJ"])) == pytest.approx(area_of[p.region], rel=1e-4), p.id
        u = union(b.geometry)
        assert u.area == pytest.approx(float(shapely.area(b.geometry).sum()), rel=1e-9), p.id  # no overlap
        assert shapely.symmetric_difference(u, p.outline).area < 1e-9 * p.outline.area, p.id  # no gap
        counties = {"990102", "990121", "990122", "990123"}
        assert set(b.columns["XZQDM"]) <= (counties if p.level == "city" else {p.region})


def test_county_plans_follow_the_city(region):
    city_czk = union(batch(region, "990100-city-master-2021", "czkfbj").geometry)
    city_red = union(batch(region, "990100-city-master-2021", "stbhhx").geometry)
    for code in ("990121", "990122", "990123"):
        pid = f"{code}-county-master-2022"
        plan = region.plan(pid)
        assert plan.upper_plan_id == "990100-city-master-2021"
        czk = batch(region, pid, "czkfbj")
        assert len(czk) > 0
        assert shapely.difference(union(czk.geometry), city_czk).area < AREA_TOL
        red = batch(region, pid, "stbhhx")
        if len(red):
            assert shapely.difference(union(red.geometry), city_red).area < AREA_TOL
        for layer in ("stbhhx", "yjjbnt", "czkfbj", "ghfq"):
            b = batch(region, pid, layer)
            assert set(b.columns["XZQDM"]) <= {code}
            if len(b):
                assert shapely.difference(union(b.geometry), plan.outline).area < AREA_TOL


def test_central_city_planned_use(region, cat):
    for pid, edition in (("990100-city-master-2021", "2020"), ("990100-city-master-2023", "2023")):
        b = batch(region, pid, "zxcqghydyh")
        assert len(b) > 20
        assert set(b.columns["YDYHBB"]) == {edition}
        assert set(b.columns["YSDM"]) == {"2090020620"}
        table = cat.code_tables[f"ydyh_{edition}"]
        assert all(c in table for c in b.columns["YDYHFLDM"])
        czk = union(batch(region, pid, "czkfbj").geometry)
        assert shapely.difference(union(b.geometry), czk).area < AREA_TOL
        assert {"070102", "1701"} & set(b.columns["YDYHFLDM"])


def test_plots_are_one_to_four_adjacent_parcels(region):
    parcels = survey(region, 2022, "dltb").geometry
    points = shapely.point_on_surface(parcels)
    for pid in ("990100-city-master-2021", "990100-city-master-2023"):
        plots = batch(region, pid, "zxcqghydyh").geometry
        assert all(len(g.geoms) == 1 for g in plots)  # adjacent parcels make one polygon
        _, plot_idx = shapely.STRtree(plots).query(points, predicate="within")
        counts = np.bincount(plot_idx, minlength=len(plots))
        assert counts.min() >= 1 and counts.max() <= 4


def test_overlays(region):
    for pid in ("990100-city-master-2021", "990100-city-master-2023"):
        h = batch(region, pid, "lswhbhx")
        assert 2 <= len(h) <= 4 and set(h.columns["YSDM"]) == {"2090020227"}
        assert "历史文化街区" in h.columns["BHLX"] and "历史文化名村" in h.columns["BHLX"]
        f = batch(region, pid, "hlfxkzx")
        assert 2 <= len(f) <= 3 and set(f.columns["FXDJ"]) == {"高风险", "中风险"}
        assert set(f.columns["YSDM"]) == {"2090020229"}


def test_class_shares(region):
    b = survey(region, 2022, "dltb")
    dl = np.array(b.columns["DLBM"])
    area = np.asarray(b.columns["TBMJ"])
    built = {"05H1", "0508", "0601", "0602", "0701", "0702", "08H1", "08H2", "0809", "0810", "09",
             "1001", "1002", "1003", "1004", "1005", "1007", "1008", "1009", "1109", "1201"}

    def share(mask):
        return float(area[mask].sum() / area.sum())

    assert 0.35 <= share(np.char.startswith(dl, "01")) <= 0.45
    assert 0.25 <= share(np.char.startswith(dl, "03")) <= 0.35
    assert 0.10 <= share(np.isin(dl, list(built))) <= 0.15
    assert 0.05 <= share(np.char.startswith(dl, "11")) <= 0.08
    for code in ("0101", "0102", "0103", "0301", "0602", "0701", "0702", "1101", "1103", "1104", "1207"):
        assert code in dl, code
    assert len(set(dl.tolist())) >= 18


# --- drawer entries ----------------------------------------------------------------------


def test_drawer_entries(region, cat):
    plans = {p.id: p for p in region.plans}
    surveys = {f"{c}-county-survey-{y}" for c in COUNTY_CODES for y in (2022, 2023)}
    assert set(plans) == {
        "990000-province-survey-2022", "990000-province-survey-2023", "990000-province-master-2021",
        "990100-city-master-2021", "990100-city-master-2023", "990100-city-special-LSWH-2024",
        "990100-city-special-ZHFZ-2024", "990100-city-detailed-990102DY01-2024",
        "990121-county-master-2022", "990122-county-master-2022", "990123-county-master-2022",
        "990122-county-master-2024", "990123-county-master-2025",
    } | surveys | set(region.meta["land"]["entries"])
    xzq = survey(region, 2022, "xzq")
    outline_of = dict(zip(xzq.columns["XZQDM"], xzq.geometry))
    for p in plans.values():
        subject = f"-{p.subject}" if p.subject else ""
        assert p.id == f"{p.region}-{p.level}-{p.type}{subject}-{p.version}"
        assert (p.subject is not None) == (p.type in ("special", "detailed", "management"))
        if p.type == "special":
            assert p.subject in cat.code_tables["special_subject"]
        assert p.level in cat.code_tables["plan_level"] and p.type in cat.code_tables["plan_type"]
        assert p.status in ("filed", "superseded", "withdrawn", "submitted")
        assert p.submitted_at.tzinfo is not None
        assert p.submitted_at.utcoffset() == datetime.timedelta(hours=8)
        assert p.upper_plan_id is None or p.upper_plan_id in plans
        if p.type == "detailed":  # a planning unit: the area its plots cover, inside the central city
            assert shapely.difference(p.outline, outline_of["990102"]).area < AREA_TOL
            assert shapely.symmetric_difference(p.outline, union(region.batch(p.id, "zxcqghydyh").geometry)).area \
                < AREA_TOL
        else:
            assert shapely.equals(p.outline, outline_of[p.region])
        if p.valid_to is not None:
            assert p.valid_from < p.valid_to and p.status in ("superseded", "withdrawn")
        layers = {b.layer_id for b in region.batches if b.plan_id == p.id}
        for layer in layers:
            assert p.type in cat.layer(layer).drawer_types, (p.id, layer)
    assert plans["990100-city-master-2021"].valid_to == plans["990100-city-master-2023"].valid_from
    assert plans["990000-province-survey-2022"].valid_to == plans["990000-province-survey-2023"].valid_from
    assert plans["990000-province-master-2021"].approval_date == datetime.date(2021, 3, 15)
    layers = lambda pid: {b.layer_id for b in region.batches if b.plan_id == pid}
    for pid in surveys:
        assert layers(pid) == {"dltb", "xzq"}, pid
    assert layers("990000-province-survey-2022") == {"xzq"}  # the province and city boundaries
    assert layers("990000-province-master-2021") == {"stbhhx", "yjjbnt", "czkfbj"}
    full = {"stbhhx", "yjjbnt", "czkfbj", "ghfq", "zxcqghydyh", "lswhbhx", "hlfxkzx"}
    assert layers("990100-city-master-2021") == full == layers("990100-city-master-2023")
    assert layers("990121-county-master-2022") == {"stbhhx", "yjjbnt", "czkfbj", "ghfq"}
    assert layers("990100-city-special-LSWH-2024") == {"lswhbhx"}
    assert layers("990100-city-special-ZHFZ-2024") == {"hlfxkzx"}
    assert layers("990100-city-detailed-990102DY01-2024") == {"zxcqghydyh"}
    # two special plans of the city in force together; a withdrawn revision, its predecessor reinstated
    assert plans["990100-city-special-LSWH-2024"].status == plans["990100-city-special-ZHFZ-2024"].status == "filed"
    revision, reinstated = plans["990122-county-master-2024"], plans["990122-county-master-2022"]
    assert revision.status == "withdrawn" and reinstated.status == "filed"
    assert reinstated.valid_from == revision.valid_to and [e[3] for e in reinstated.later] == ["superseded", "filed"]
    assert plans["990123-county-master-2025"].status == "submitted"
    # the registers (批供用补查): 东岭县's yearly, 示范区's rolling; each holds approvals or supplies
    for pid in region.meta["land"]["entries"]:
        assert plans[pid].type == "management" and plans[pid].status == "filed" and plans[pid].upper_plan_id is None
        assert layers(pid) & {"ydsp", "tdgy"} and layers(pid) <= {"ydsp", "tdgy", "bcgd", "zfjc"}
    assert {plans[pid].subject for pid in region.meta["land"]["entries"]} == {"2023", "2024", "2025", "rolling"}
    # no batch appears twice for one drawer entry
    keys = [(b.plan_id, b.layer_id) for b in region.batches]
    assert len(keys) == len(set(keys))


def test_bsm_is_unique_in_each_database(region, cat):
    """Each drawer entry is one database: its BSMs (region code + the layer's segment + a number) never
    repeat across its layers."""
    by_plan: dict[str, list[str]] = {}
    for b in region.batches:
        segment = cat.layer(b.layer_id).bsm_segment
        for v in b.columns["BSM"]:
            assert len(v) == 18 and v.isdigit() and v[6:10] == segment, (b.plan_id, b.layer_id, v)
        by_plan.setdefault(b.plan_id, []).extend(b.columns["BSM"])
    for pid, values in by_plan.items():
        assert len(values) == len(set(values)), pid


# --- terrain -----------------------------------------------------------------------------


def test_dem(region):
    with rasterio.open(region.dem_path) as src:
        assert src.crs.to_epsg() == 4490
        assert src.dtypes[0] == "float32"
        assert src.compression is not None and src.compression.name.lower() == "deflate"
        assert src.res[0] == pytest.approx(0.0005) and src.res[1] == pytest.approx(0.0005)
        assert src.transform.e < 0  # north-up
        z = src.read(1)
        w, s, e, n = src.bounds
    eps = 1e-9
    assert w <= 116.6 + eps and e >= 117.4 - eps and s <= 31.2 + eps and n >= 31.75 - eps
    assert 900 < float(z.max()) < 1300
    east = z[:, int(z.shape[1] * 0.75):]
    assert 15 < float(np.median(east)) < 80  # the eastern plain
    west = z[:, : int(z.shape[1] * 0.15)]
    assert float(np.median(west)) > 200  # mountains in the west
    slope = slope_degrees(region.dem_path)
    assert slope.shape == z.shape and float(np.median(slope)) < 5 and float(slope.max()) > 20


def test_rivers_in_meta(region):
    rivers = region.meta["rivers"]
    assert rivers[0]["kind"] == "main" and 2 <= sum(r["kind"] == "tributary" for r in rivers) <= 4
    main = np.array(rivers[0]["coords"])
    assert main[0, 0] < 116.7 and main[-1, 0] > 117.35  # west to east across the city
    with rasterio.open(region.dem_path) as src:
        z = np.array([v[0] for v in src.sample(main[:: max(1, len(main) // 40)])])
    assert z[-1] < z[0]  # it runs downhill
    c = region.meta["central_city"]
    assert shapely.LineString(main).distance(shapely.Point(c["lon"], c["lat"])) < 0.03  # through the city
