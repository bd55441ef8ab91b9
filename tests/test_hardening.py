"""No answer tells where the server keeps its files: processes, reports, errors and pages are read for the
repository's path and the data folder (a report once carried the path of its rule file)."""

from __future__ import annotations

import base64
import json
import urllib.parse

from .auth import admin_client
from .conftest import ROOT

BOUNDARY = {"type": "Polygon", "coordinates": [[[117.05, 31.47], [117.06, 31.47], [117.06, 31.48], [117.05, 31.48],
                                                [117.05, 31.47]]]}
PAGES = [
    "/", "/?f=html", "/collections", "/collections?f=html", "/collections/dltb", "/collections/dltb?f=html",
    "/collections/dltb/items?limit=2&f=html", "/collections/dltb/queryables?f=html", "/conformance?f=html",
    "/openapi", "/openapi?f=html", "/processes", "/processes?f=html", "/processes/plan-qc?f=html", "/jobs?f=html",
    "/map", "/certificates", "/basemaps/service?SERVICE=WMS&REQUEST=GetCapabilities",
    "/basemaps/wmts/1.0.0/WMTSCapabilities.xml",
]
ERRORS = [
    "/nope", "/collections/nope/items", "/collections/dltb/items?filter=nope", "/collections/dltb/items?bbox=1",
    "/collections/dltb/items?colour=red", "/collections/dltb/items/999999999", "/static/onemap/nope.js",
    "/static/onemap/%00x.js", "/jobs/nope", "/certificates/nope", "/processes/nope",
    "/collections/dltb/items?filter=" + urllib.parse.quote("TBMJ / 0 > 1 AND DLMC LIKE '%\\'"),
    "/collections/dltb/tiles/WebMercatorQuad/99/0/0", "/basemaps/service?SERVICE=WMS&REQUEST=GetMap",
]
EXECUTIONS = [
    ("compliance-review", {"inputs": {"boundary": BOUNDARY, "land_use": "1001"}, "response": "document",
                           "outputs": {"result": {}, "report": {}}}),
    ("compliance-review", {"inputs": {"boundary": "<gml:MultiSurface xmlns:gml='http://www.opengis.net/gml/3.2'/>",
                                      "land_use": "1001"}}),
    ("compliance-review", {"inputs": {"boundary": BOUNDARY, "land_use": "9999"}}),
    ("site-selection", {"inputs": {"area": "990102", "land_use": ["1001"], "min_area_m2": 20000}}),
    ("transmission-check", {"inputs": {"plan_id": "990121-county-master-2022"}, "response": "document",
                            "outputs": {"result": {}, "report": {}}}),
    ("plan-qc", {"inputs": {"plan_id": "nope-county-master-1"}}),
    ("plan-qc", {"inputs": {"package": "bm90IGEgcGFja2FnZQ==", "region": "990100", "level": "city",
                            "type": "master"}}),
]


def _no_server_path(answers: list[tuple[str, bytes]], *places: object) -> None:
    """None of the answers names one of the server's folders (as given, or resolved)."""
    names = {str(p) for p in places} | {str(p.resolve()) for p in places if hasattr(p, "resolve")}
    for what, body in answers:
        for name in names:
            assert name.encode() not in body, (what, name, body[:300])


def test_no_answer_names_a_server_folder(client, settings, tmp_path):
    from onemap.providers.packages import export_plan
    from onemap.providers.store import open_store

    answers = []
    for url in PAGES + ERRORS:
        r = client.get(url)
        assert r.status_code < 500, (url, r.status_code, r.data[:300])
        answers.append((url, r.data))
    r = client.post("/processes/plan-qc/execution", data=b"{", content_type="application/json")
    answers.append(("bad JSON", r.data))
    store = open_store(settings.store_url)
    try:
        package = export_plan(store, "990121-county-master-2022", tmp_path / "package.gpkg")
    finally:
        store.close()
    qc = {"inputs": {"package": base64.b64encode(package.read_bytes()).decode(), "region": "990121",
                     "level": "county", "type": "master"}, "response": "document",
          "outputs": {"report": {}, "report_html": {}, "errors": {}}}
    for pid, body in [*EXECUTIONS, ("plan-qc", qc)]:
        r = client.post(f"/processes/{pid}/execution", json=body)
        assert r.status_code < 500, (pid, r.status_code, r.data[:300])
        answers.append((pid, r.data))
        link = r.headers.get("Link", "")
        if "rel=\"monitor\"" in link:  # the job's own record of it
            job = link.split(">", 1)[0].lstrip("<").replace("http://testserver", "")
            answers += [(job, client.get(job).data), (job + "/results", client.get(job + "/results").data)]
    for c in json.loads(client.get("/certificates").data)["certificates"][:6]:
        href = c["href"].replace("http://testserver", "")
        answers += [(href, client.get(href).data), (href, client.get(href + "?f=html").data)]
    assert any(b'"config"' in body for _, body in answers)  # the quality-check report is among them
    _no_server_path(answers, ROOT, settings.data_dir, tmp_path)


def test_a_missing_server_file_is_named_without_its_folder(settings, tmp_path):
    """A DEM the settings name but the disk lacks: the error says which setting, not where."""
    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"dem": tmp_path / "no-such-dem.tif"}))
    r = admin_client(app).post("/processes/site-selection/execution", json={
        "inputs": {"area": "990102", "land_use": ["1001"], "min_area_m2": 20000}})
    assert r.status_code >= 400 and b"no-such-dem.tif" in r.data, r.data[:300]
    _no_server_path([("site-selection", r.data)], ROOT, settings.data_dir, tmp_path)
