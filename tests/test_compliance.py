"""compliance-review against the hand-made map (tests/handmap.py): areas worked out by hand."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
import shapely
from pyproj import Transformer

from . import handmap as hm
from .handmap import quad_area

URL = "/processes/compliance-review/execution"
S1: hm.Rect = (117.015, 31.405, 117.025, 31.415)  # half on the red line, all on paddy field
S2: hm.Rect = (117.065, 31.410, 117.070, 31.415)  # inside CZK_2023 only, planned industrial
S3: hm.Rect = (117.070, 31.410, 117.080, 31.415)  # half planned industrial, half residential (2023)
S4: hm.Rect = (117.070, 31.410, 117.076, 31.415)  # a sixth residential


def review(client, boundary, land_use="1001", status=200, **inputs) -> dict:
    body = {"inputs": {"boundary": boundary, "land_use": land_use, **inputs}}
    r = client.post(URL, json=body)
    assert r.status_code == status, r.data[:800]
    return json.loads(r.data)


def check(result: dict, cid: str) -> dict:
    return next(c for c in result["checks"] if c["id"] == cid)


def close(a: float, b: float, rel: float = 1e-3) -> bool:
    return abs(a - b) <= rel * abs(b)


def test_red_line_overlap_is_the_hand_computed_area_and_fails(hand_client):
    expected = quad_area(hm.intersect(S1, hm.RED))
    total = quad_area(S1)
    result = review(hand_client, hm.geojson(S1))
    assert close(result["project"]["area"]["m2"], total)
    red = check(result, "ecological_red_line")
    assert red["result"] == "fail"
    assert close(red["overlap"]["m2"], expected)
    assert close(red["overlap"]["ha"], expected / 1e4)
    assert close(red["overlap"]["mu"], expected * 0.0015)
    assert abs(red["overlap"]["share"] - expected / total) < 1e-3
    assert [f["HXMC"] for f in red["features"]] == ["测试生态保护红线"]
    conflict = shapely.geometry.shape(red["conflict_geometry"])
    assert conflict.symmetric_difference(hm.box(hm.intersect(S1, hm.RED))).area < 1e-9
    assert red["rule"]["zh"] and red["rule"]["en"]
    assert result["overall"]["result"] == "fail"
    assert "生态保护红线" in result["overall"]["zh"] and "red line" in result["overall"]["en"]
    assert "ecological_red_line" in [r["check"] for r in result["overall"]["reasons"]]


def test_cropland_taken_is_reported_for_the_balance(hand_client):
    result = review(hand_client, hm.geojson(S1))
    survey = check(result, "status_quo")
    assert survey["result"] == "conditional" and survey["balance_required"] is True
    assert close(survey["cropland"]["m2"], quad_area(S1))
    assert [(c["DLBM"], c["DLMC"]) for c in survey["classes"]] == [("0101", "水田")]
    assert "占补平衡" in survey["message"]["zh"]


def test_major_infrastructure_on_the_red_line_is_conditional(hand_client):
    result = review(hand_client, hm.geojson(S1), project_type="major_infrastructure")
    assert check(result, "ecological_red_line")["result"] == "conditional"
    assert check(result, "planning_zones")["result"] == "fail"  # 生态保护区 admits nothing


def test_parcel_inside_the_urban_boundary_on_matching_use_passes(hand_client):
    for use in ("1001", "100101"):
        result = review(hand_client, hm.geojson(S2), land_use=use)
        verdicts = {c["id"]: c["result"] for c in result["checks"]}
        assert set(verdicts.values()) == {"pass"}, verdicts
        assert result["overall"]["result"] == "pass"
        czk = check(result, "urban_development_boundary")
        assert close(czk["overlap"]["m2"], quad_area(S2)) and czk["overlap"]["share"] > 0.999
        assert check(result, "planned_land_use")["mismatch"]["m2"] == 0
        assert check(result, "ecological_red_line")["overlap"]["m2"] == 0
        assert check(result, "ecological_red_line")["conflict_geometry"] is None


def test_a_date_before_the_revision_gives_the_2021_boundarys_answer(hand_client):
    before = review(hand_client, hm.geojson(S2), date="2022-06-01")
    czk = check(before, "urban_development_boundary")
    assert czk["result"] == "fail" and czk["overlap"]["m2"] == 0
    assert close(czk["outside"]["m2"], quad_area(S2))
    assert before["overall"]["result"] == "fail"
    assert before["date"].startswith("2022-06-01")
    assert check(review(hand_client, hm.geojson(S2), date="2023-08-31"), "urban_development_boundary")["result"] \
        == "fail"
    on_the_day = review(hand_client, hm.geojson(S2), date="2023-09-01")
    assert check(on_the_day, "urban_development_boundary")["result"] == "pass"


def test_partly_outside_the_boundary(hand_client):
    # half outside: above the rule file's share (partly_fail_share 0.1), an urban use fails
    straddle = (117.055, 31.410, 117.065, 31.415)
    result = review(hand_client, hm.geojson(straddle), date="2022-06-01")
    czk = check(result, "urban_development_boundary")
    assert czk["result"] == "fail" and "50.0%" in czk["message"]["zh"] and "10%" in czk["message"]["zh"]
    assert close(czk["overlap"]["m2"], quad_area(hm.intersect(straddle, hm.CZK_2021)))
    assert close(czk["outside"]["m2"], quad_area((117.060, 31.410, 117.065, 31.415)))
    # a twentieth outside: below the share, conditional
    sliver = (117.0505, 31.410, 117.0605, 31.415)
    czk = check(review(hand_client, hm.geojson(sliver), date="2022-06-01"), "urban_development_boundary")
    assert czk["result"] == "conditional"
    assert close(czk["outside"]["share"], quad_area((117.060, 31.410, 117.0605, 31.415)) / quad_area(sliver))
    # a use that is not urban construction is not held to the boundary
    assert check(review(hand_client, hm.geojson(straddle), land_use="0101", date="2022-06-01"),
                 "urban_development_boundary")["result"] == "pass"


def test_planned_use_mismatch_by_share(hand_client):
    half = review(hand_client, hm.geojson(S3))
    plu = check(half, "planned_land_use")
    assert plu["result"] == "fail"  # half of it is planned residential: over the 20 % rule
    assert close(plu["mismatch"]["m2"], quad_area(hm.intersect(S3, hm.RESIDENTIAL_2023)))
    assert sorted(u["YDYHFLDM"] for u in plu["planned_uses"]) == ["0701", "1001"]
    sixth = check(review(hand_client, hm.geojson(S4)), "planned_land_use")
    assert sixth["result"] == "conditional"
    assert close(sixth["mismatch"]["m2"], quad_area(hm.intersect(S4, hm.RESIDENTIAL_2023)))


# ---- the same boundary in every accepted form ------------------------------------------------------
def _gk(r: hm.Rect) -> list[tuple[float, float]]:
    """The rectangle's corners in CGCS2000 3-degree zone 39 (EPSG:4527, easting with zone prefix)."""
    t = Transformer.from_crs(4490, 4527, always_xy=True)
    corners = [(r[0], r[1]), (r[2], r[1]), (r[2], r[3]), (r[0], r[3])]
    return [t.transform(x, y) for x, y in corners]


def coordfile(r: hm.Rect) -> bytes:
    pts = _gk(r)
    ha = quad_area(r) / 1e4
    lines = ["[属性描述]", "格式版本号=1.01版本", "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格",
             "计量单位=米", "带号=39", "精度=0.001", "[地块坐标]",
             f"{len(pts) + 1},{ha:.4f},1,测试项目,面,,工业用地,0601,@"]
    for i, (e, n) in enumerate([*pts, pts[0]]):
        lines.append(f"J{i % len(pts) + 1},1,{n:.3f},{e:.3f}")
    return "\r\n".join(lines).encode("gbk")


def gml(r: hm.Rect) -> str:
    x0, y0, x1, y1 = r
    pos = " ".join(f"{lat} {lon}" for lon, lat in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    return ('<gml:Polygon xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="p1" '
            'srsName="http://www.opengis.net/def/crs/EPSG/0/4490"><gml:exterior><gml:LinearRing>'
            f"<gml:posList>{pos}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>")


def kml(r: hm.Rect) -> str:
    x0, y0, x1, y1 = r
    coords = " ".join(f"{lon},{lat},0" for lon, lat in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
    return ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark>'
            "<name>测试项目</name><Polygon><outerBoundaryIs><LinearRing>"
            f"<coordinates>{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></kml>")


def _comparable(result: dict) -> list[tuple]:
    return [(c["id"], c["result"], c["overlap"]["m2"]) for c in result["checks"]]


def _same(a: dict, b: dict) -> None:
    assert a["overall"]["result"] == b["overall"]["result"]
    for (ia, ra, ma), (ib, rb, mb) in zip(_comparable(a), _comparable(b), strict=True):
        assert (ia, ra) == (ib, rb)
        assert abs(ma - mb) <= 1e-6 * max(ma, 1.0), (ia, ma, mb)


@pytest.mark.parametrize("form", ["coordfile", "gml", "kml", "feature", "epsg4527", "epsg3857"])
def test_every_form_of_the_boundary_gives_the_same_result(form, hand_client):
    reference = review(hand_client, hm.geojson(S1))
    if form == "coordfile":
        result = review(hand_client, coordfile(S1).decode("gbk"), boundary_format="coordfile")
        assert result["project"]["source_crs"] == "EPSG:4527"
        assert result["project"]["parcels"][0].get("name") == "测试项目"
    elif form == "gml":
        result = review(hand_client, gml(S1))
    elif form == "kml":
        result = review(hand_client, kml(S1), boundary_format="kml")
    elif form == "feature":
        result = review(hand_client, {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "测试项目"}, "geometry": hm.geojson(S1)}]})
    else:
        epsg = int(form[4:])
        t = Transformer.from_crs(4490, epsg, always_xy=True)
        ring = [list(t.transform(x, y)) for x, y in hm.geojson(S1)["coordinates"][0]]
        result = review(hand_client, {"type": "Polygon", "coordinates": [ring]}, crs=f"EPSG:{epsg}")
    _same(reference, result)


# ---- outputs --------------------------------------------------------------------------------------
def test_html_report_is_printable_with_a_map(hand_client):
    body = {"inputs": {"boundary": hm.geojson(S1), "land_use": "1001"},
            "outputs": {"report": {"format": {"mediaType": "text/html"}}}}
    r = hand_client.post(URL, json=body)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.data.decode()
    assert "生态保护红线" in html and "不符合" in html and "@media print" in html
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert m, "the report has no map image"
    png = base64.b64decode(m.group(1))
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    colours = {img.getpixel((x, y)) for x in range(0, img.width, 7) for y in range(0, img.height, 7)}
    # the paddy field of the survey, the red-line conflict over it and the project outline
    assert img.width >= 400 and len(colours) >= 3 and (20, 20, 20) in colours


def test_both_outputs_as_a_document(hand_client):
    body = {"inputs": {"boundary": hm.geojson(S2), "land_use": "1001"}, "response": "document",
            "outputs": {"result": {}, "report": {"format": {"mediaType": "text/html"}}}}
    r = hand_client.post(URL, json=body)
    assert r.status_code == 200, r.data[:500]
    doc = json.loads(r.data)
    assert doc["result"]["overall"]["result"] == "pass"
    assert doc["report"]["mediaType"] == "text/html" and "<html" in doc["report"]["value"]


def test_same_answers_on_both_backends_match_the_rules_file(hand_client):
    """Every check of config/compliance_rules.yaml is reported, in the file's order."""
    from onemap.processes.compliance import load_rules

    result = review(hand_client, hm.geojson(S1))
    assert [c["id"] for c in result["checks"]] == [c["id"] for c in load_rules()["checks"]]


# ---- bad input ------------------------------------------------------------------------------------
def _jobs(client) -> int:
    return json.loads(client.get("/jobs").data)["numberMatched"]


@pytest.mark.parametrize("inputs, status, says", [
    ({"boundary": hm.geojson(S1)}, 400, "'land_use'"),
    ({"boundary": hm.geojson(S1), "land_use": "9999"}, 400, "'land_use'"),
    ({"boundary": hm.geojson(S1), "land_use": "10a1"}, 400, "'land_use'"),
    ({"boundary": hm.geojson(S1), "land_use": "1001", "date": "2023-02-30"}, 400, "'date'"),
    ({"boundary": hm.geojson(S1), "land_use": "1001", "project_type": "huge"}, 400, "'project_type'"),
    ({"boundary": hm.geojson(S1), "land_use": "1001", "colour": "red"}, 400, "'colour'"),
    ({"boundary": {"type": "Polygon", "coordinates": []}, "land_use": "1001"}, 400, "empty"),
    ({"boundary": hm.geojson(S1), "land_use": "1001", "crs": "EPSG:4527"}, 400, "EPSG:4527"),
    ({"boundary": hm.geojson((100.0, 20.0, 110.0, 30.0)), "land_use": "1001"}, 413, "km²"),
    ({"boundary": "<!DOCTYPE x [<!ENTITY e 'e'>]><kml>&e;</kml>", "land_use": "1001"}, 400, "DOCTYPE"),
    ({"boundary": '<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2"/>', "land_use": "1001"}, 400,
     "MultiSurface"),
    ({"boundary": '<gml:MultiSurface xmlns:gml="http://www.opengis.net/gml/3.2" srsName="EPSG:4490">'
                  '<gml:surfaceMember/></gml:MultiSurface>', "land_use": "1001"}, 400, "MultiSurface"),
])
def test_bad_input_is_a_400_naming_it_and_runs_nothing(inputs, status, says, hand_client):
    before = _jobs(hand_client)
    r = hand_client.post(URL, json={"inputs": inputs})
    assert r.status_code == status, r.data[:500]
    err = json.loads(r.data)
    assert says in err["description"], err
    assert "Traceback" not in r.data.decode()
    assert _jobs(hand_client) == before


@pytest.mark.parametrize("body", [b"[" * 100_000, b"{" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                  b'{"inputs":' * 5_000 + b"{}" + b"}" * 5_000])
def test_a_deeply_nested_request_is_a_400(body, hand_client):
    before = _jobs(hand_client)
    r = hand_client.post(URL, data=body, content_type="application/json")
    assert r.status_code == 400, r.data[:300]
    assert r.get_json()["code"] == "InvalidInput"
    assert _jobs(hand_client) == before


def test_too_many_vertices_is_refused(hand_client):
    import numpy as np

    n = 100_001
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = [[117.05 + 0.01 * np.cos(a), 31.42 + 0.01 * np.sin(a)] for a in t]
    ring.append(ring[0])
    r = hand_client.post(URL, json={"inputs": {"boundary": {"type": "Polygon", "coordinates": [ring]},
                                               "land_use": "1001"}})
    assert r.status_code == 413 and "vertices" in json.loads(r.data)["description"]


def test_a_sloppy_boundary_is_repaired_and_said(hand_client):
    x0, y0, x1, y1 = S2
    bowtie_free = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0], [x0, y0]]  # a repeated closing point
    result = review(hand_client, {"type": "Polygon", "coordinates": [list(reversed(bowtie_free))]})
    assert result["overall"]["result"] == "pass"
    assert result["project"]["notes"], "the repair is said in the result"


# ---- the rule file ----------------------------------------------------------------------------------
@pytest.mark.parametrize("change, says", [
    (lambda r: r["checks"][0].update(layer="nope"), "no layer 'nope'"),
    (lambda r: r["checks"][0].update(kind="nearby"), "unknown kind"),
    (lambda r: r["checks"][0]["outcomes"].pop("clear"), "outcome clear"),
    (lambda r: r["checks"][0]["outcomes"]["overlap"].pop("major_infrastructure"), "major_infrastructure"),
    (lambda r: r["checks"][0]["outcomes"]["clear"].update(verdict="maybe"), "verdict"),
    (lambda r: r["undetermined"]["partly"].update(en="{hectares} ha"), "placeholder"),
    (lambda r: r["checks"][1].update(id=r["checks"][0]["id"]), "id of its own"),
    (lambda r: next(c for c in r["checks"] if c["kind"] == "land_use_match").update(fail_share="a fifth"),
     "fail_share"),
    (lambda r: next(c for c in r["checks"] if c["kind"] == "zone_use")["zones"].update(x={"else": "no"}),
     "zone x"),
])
def test_an_invalid_rule_file_stops_the_start(change, says, hand_settings, tmp_path):
    """ONEMAP_COMPLIANCE_RULES is checked when the app is made (create_app), not at the first review."""
    import yaml

    from onemap.config.errors import ConfigError
    from onemap.config.settings import PACKAGE_DIR
    from onemap.server.app import create_app

    rules = yaml.safe_load((PACKAGE_DIR / "compliance_rules.yaml").read_text(encoding="utf-8"))
    change(rules)
    bad = tmp_path / "province_rules.yaml"
    bad.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        create_app(hand_settings.model_copy(update={"compliance_rules": bad}))
    assert says in err.value.description, err.value.description
    assert str(tmp_path) not in err.value.description  # the file by its name only
