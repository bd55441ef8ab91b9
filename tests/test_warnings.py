"""预警: warnings from indicator status and from filings that touch a control line, their trail, feeds, and
signed webhook deliveries to a receiver on 127.0.0.1, on both backends.

Filing warnings are checked on the hand-made map (tests/handmap.py): a detailed plan puts urban residential
land across the red line's edge and an industrial strip outside the urban development boundary, and the areas a
warning reports are the closed-form areas of those rectangles. Indicator warnings on the demo region are checked
against the indicators collection's own statuses, region by region.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from lxml import etree

from onemap.config.settings import Settings
from onemap.providers.store import open_store
from onemap.providers.store.base import Plan

from . import handmap as hm
from .auth import admin_client, signed_in, token_for
from .conftest import ROOT, _janitor, copy_store, get_json, pg_clone, pristine

DETAILED = "880100-city-detailed-2024"
ON_RED = (117.015, 31.405, 117.025, 31.415)  # half on the red line, all outside the urban boundary
OUTSIDE = (117.060, 31.435, 117.065, 31.445)  # industrial, outside the 2023 urban boundary
VALID_FROM = dt.date(2024, 3, 1)
REL = 1e-4
_dbs = itertools.count(1)


# ---- a receiver on 127.0.0.1 ---------------------------------------------------------------------------
class Receiver:
    """Records every POST; answers a path with the codes queued for it in ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.answers: dict[str, list[tuple[int, str | None]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.got.append({"path": self.path, "headers": dict(self.headers), "body": body})
                queued = receiver.answers.get(self.path) or []
                code, location = queued.pop(0) if queued else (200, None)
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def fast_rules(tmp_path: Path) -> Path:
    """The shipped rules with retries 0.2 s apart (the test does not wait minutes)."""
    rules = yaml.safe_load((ROOT / "config" / "warnings.yaml").read_text(encoding="utf-8"))
    rules["delivery"]["backoff_seconds"] = [0, 0.2, 0.2]
    rules["delivery"]["timeout_seconds"] = 5
    path = tmp_path / "warnings.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture()
def hand(backend, tmp_path, receiver, request):
    """A fresh hand-made map, served with no job threads (the test runs jobs), the receiver allowed."""
    allow = [f"127.0.0.1:{receiver.port}"]
    rules = fast_rules(tmp_path)
    if backend == "gpkg":
        settings = Settings(data_dir=tmp_path, public_url="http://testserver", job_workers=0, webhook_allow=allow,
                            warning_rules=rules)
    else:
        pg = request.getfixturevalue("pg")
        name = f"onemap_warn{next(_dbs)}"
        _janitor(pg, name).init()
        settings = Settings(data_dir=tmp_path, database_url=pg.url(name), public_url="http://testserver",
                            job_workers=0, webhook_allow=allow, warning_rules=rules)
    store = open_store(settings.store_url)
    try:
        hm.build(store)
    finally:
        store.close()
    from onemap.server.app import create_app

    app = create_app(settings)
    yield app
    app.extensions["onemap"].store.close()


def submit_detailed(store) -> None:
    """The detailed plan, checked and approved (filing is the test's step)."""
    from onemap.providers.registry import Registry

    batch = hm._batch("zxcqghydyh", DETAILED, [ON_RED, OUTSIDE], YDYHFLDM=["0701", "1001"],
                      YDYHFLMC=["城镇住宅用地", "工业用地"], YDYHBB=["2023", "2023"])
    plan = Plan(id=DETAILED, region=hm.REGION, level="city", type="detailed", version="2024",
                title="测试单元控制性详细规划", status="submitted", subject="测试单元")
    store.write([plan], [batch])
    reg = Registry(store)
    reg.mark_checked(DETAILED, "质检中心")
    reg.approve(DETAILED, "测试市人民政府", "测政函〔2024〕3号", override="test: the gate is not under test")


def file_detailed(c) -> None:
    r = c.post(f"/plans/{DETAILED}/file", json={"valid_from": VALID_FROM.isoformat()})
    assert r.status_code == 200, r.data[:300]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b))


def subscribe(c, url: str, status: int = 201, **extra) -> dict:
    r = c.post("/warnings/subscriptions", json={"url": url, **extra})
    assert r.status_code == status, r.data[:400]
    return json.loads(r.data)


# ---- a filing that touches the red line ------------------------------------------------------------------
def test_a_filing_on_the_red_line_reaches_the_subscriber_signed(hand, receiver):
    c = admin_client(hand)
    om = hand.extensions["onemap"]
    sub = subscribe(c, receiver.url(), kinds=["filing"], regions=["880100"], label="测试接收端")
    assert sub["secret"].startswith("whsec_") and sub["regions"] == ["880100"]
    assert "secret" not in get_json(c, f"/warnings/subscriptions/{sub['id']}")
    submit_detailed(om.store)
    file_detailed(c)  # queues the scan as a job
    assert om.runner.work_one()  # the scan runs (and posts its deliveries)
    assert len(receiver.got) == 2
    by_layer = {}
    for got in receiver.got:
        body = got["body"]
        t, v1 = (part.split("=", 1)[1] for part in got["headers"]["X-OneMap-Signature"].split(","))
        want = hmac.new(sub["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, want) and abs(int(t) - time.time()) < 60
        doc = json.loads(body)
        assert doc["type"] == "warning.opened" == got["headers"]["X-OneMap-Event"]
        assert got["path"] == "/hook" and got["headers"]["Content-Type"].startswith("application/json")
        by_layer[doc["warning"]["detail"]["layer"]] = doc["warning"]
    red, outside = by_layer["stbhhx"], by_layer["czkfbj"]
    assert red["severity"] == "severe" and red["kind"] == "filing" and red["region"] == "880100"
    assert close(red["detail"]["area"]["m2"], hm.quad_area(hm.intersect(ON_RED, hm.RED)))
    assert red["detail"]["plan_id"] == DETAILED and red["detail"]["governing_plans"] == [hm.MASTER_2023]
    assert outside["severity"] == "warning"
    assert close(outside["detail"]["area"]["m2"], hm.quad_area(ON_RED) + hm.quad_area(OUTSIDE))
    assert "yjjbnt" not in by_layer  # the farmland is north of both
    # delivered and recorded; a second scan opens nothing twice and posts nothing
    deliveries = get_json(c, f"/warnings/subscriptions/{sub['id']}")["deliveries"]
    assert len(deliveries) == 2 and all(d["status"] == "delivered" and d["attempts"][0]["status_code"] == 200
                                        for d in deliveries)
    r = c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": "2024-06-01"}})
    assert r.status_code == 200 and json.loads(r.data)["events"] == {}
    assert len(receiver.got) == 2
    # the warnings themselves: the list, the trail, the collection (a map layer)
    listed = get_json(c, "/warnings?kind=filing&region=880100")
    assert listed["numberMatched"] == 2 and {w["status"] for w in listed["warnings"]} == {"open"}
    one = get_json(c, f"/warnings/{red['id']}")
    assert one["events"][0]["action"] == "opened" and one["events"][0]["actor"] == "scan"
    assert one["geometry"]["type"] in ("Polygon", "MultiPolygon")
    items = get_json(c, "/collections/warnings/items?f=json&kind=filing&severity=severe")
    assert [f["id"] for f in items["features"]] == [red["id"]]


def test_subscribing_an_address_the_server_must_not_call_is_refused(hand, receiver):
    c = admin_client(hand)
    for url in (f"http://127.0.0.1:{receiver.port + 1 if receiver.port < 65535 else 1}/hook",  # loopback, not allowed
                "http://10.1.2.3/hook", "http://192.168.0.10:8080/", "http://169.254.169.254/latest/meta-data",
                "http://[::1]:8080/", "http://0.0.0.0:9/", "http://[::ffff:127.0.0.1]:80/",
                f"http://user:pw@127.0.0.1:{receiver.port}/hook", "ftp://127.0.0.1/", "javascript:alert(1)",
                "http:///nohost", "http://no-such-host.invalid/"):
        body = subscribe(c, url, status=400)
        assert body["code"] in ("InvalidParameterValue", "InvalidInput") and "Traceback" not in body["description"]
    assert get_json(c, "/warnings/subscriptions")["subscriptions"] == []
    subscribe(c, receiver.url())  # the one allowed: ONEMAP_WEBHOOK_ALLOW names it
    for bad in ({"url": receiver.url(), "kinds": ["nope"]}, {"url": receiver.url(), "regions": ["12"]},
                {"url": receiver.url(), "by": "someone"}, {"nourl": 1}):
        r = c.post("/warnings/subscriptions", json=bad)
        assert r.status_code == 400, (bad, r.data[:200])


def test_redirects_are_checked_again_and_failures_retried_then_given_up(hand, receiver):
    from onemap.config.warnings import get_warning_rules
    from onemap.processes.warning_scan import WarningScanner

    c = admin_client(hand)
    om = hand.extensions["onemap"]
    a = subscribe(c, receiver.url("/a"))
    b = subscribe(c, receiver.url("/b"))
    elsewhere = f"http://127.0.0.1:{receiver.port + 1 if receiver.port < 65535 else 1}/x"
    # /a: redirected to a loopback port nobody allowed (refused, never called), then to an allowed path
    # (followed and delivered); /b: 500, a 302 (not followed: it would turn the POST into a GET), 500: given up
    receiver.answers = {"/a": [(307, elsewhere), (307, receiver.url("/a2"))],
                        "/b": [(500, None), (302, receiver.url("/g")), (500, None)]}
    rules = get_warning_rules(om.settings.warning_rules)
    _, event = om.store.warnings.raise_("test:one", "filing", "880100", "severe",
                                        {"zh": "测试预警", "en": "A test warning"}, {"n": 1}, None, "test", rules.rank)
    assert event is not None and event.action == "opened"
    scanner = WarningScanner(om.store, om.settings.processes.compliance_rules, rules)
    assert scanner.queue([event]) == 2
    for _ in range(50):  # bounded: each retry is due 0.2 s after the one before
        om.runner.deliver(every=0)
        subs = [get_json(c, f"/warnings/subscriptions/{s['id']}")["deliveries"][0] for s in (a, b)]
        if all(d["status"] != "pending" for d in subs):
            break
        time.sleep(0.25)
    da, db = subs
    assert da["status"] == "delivered" and [t["status_code"] for t in da["attempts"]] == [None, 200]
    assert da["attempts"][0]["error"].startswith("refused:") and da["attempts"][1]["url"] == receiver.url("/a2")
    assert db["status"] == "failed" and [t["status_code"] for t in db["attempts"]] == [500, 302, 500]
    assert db["attempts"][1]["error"] == "redirected with 302: webhooks follow 307 and 308 only"
    assert db["last_error"] == "answered 500" and db["next_at"] is None  # three tries: the rules' three waits
    paths = [g["path"] for g in receiver.got]
    assert "/x" not in paths and "/g" not in paths and paths.count("/a2") == 1 and paths.count("/b") == 3


def test_people_acknowledge_close_and_reopen_and_the_trail_says_who(hand, receiver):
    c = admin_client(hand)
    om = hand.extensions["onemap"]
    submit_detailed(om.store)
    file_detailed(c)
    assert om.runner.work_one()
    sub = subscribe(c, receiver.url())
    wid = get_json(c, "/warnings?severity=severe")["warnings"][0]["id"]
    r = c.post(f"/warnings/{wid}/status", json={"status": "acknowledged", "note": "已通知详规编制单位"})
    assert r.status_code == 200, r.data[:300]
    doc = json.loads(r.data)
    ack = doc["events"][-1]
    assert doc["status"] == "acknowledged" and ack["action"] == "acknowledged" and ack["note"] == "已通知详规编制单位"
    assert ack["actor"].startswith("test-admin-")  # the signed-in person, never a free-text name
    assert c.post(f"/warnings/{wid}/status", json={"status": "acknowledged"}).status_code == 409
    assert c.post(f"/warnings/{wid}/status", json={"status": "gone"}).status_code == 400
    assert c.post(f"/warnings/{wid}/status", json={"status": "closed", "by": "x"}).status_code == 400
    assert c.post(f"/warnings/{wid}/status", data="status=closed").status_code == 415
    assert c.post(f"/warnings/{wid}/status", json={"status": "closed"}).status_code == 200
    assert c.post(f"/warnings/{wid}/status", json={"status": "open", "note": "复核仍未整改"}).status_code == 200
    actions = [e["action"] for e in get_json(c, f"/warnings/{wid}")["events"]]
    assert actions == ["opened", "acknowledged", "closed", "reopened"]
    om.runner.deliver(every=0)
    assert [json.loads(g["body"])["type"] for g in receiver.got] == ["warning.acknowledged", "warning.closed",
                                                                      "warning.reopened"]
    assert c.get("/warnings/w0123456789abcde").status_code == 404
    assert c.post("/warnings/w0123456789abcde/status", json={"status": "closed"}).status_code == 404
    # a user limited to another region may read but not change it, nor subscribe to it
    other = signed_in(hand.test_client(), token_for(om.store, "internal", region="990100"))
    assert other.get(f"/warnings/{wid}").status_code == 200
    assert other.post(f"/warnings/{wid}/status", json={"status": "closed"}).status_code == 403
    assert other.post("/warnings/subscriptions", json={"url": receiver.url(), "regions": ["880100"]}).status_code == 403
    # another person's subscription does not exist for them; the owner stops it
    assert other.get(f"/warnings/subscriptions/{sub['id']}").status_code == 404
    assert other.delete(f"/warnings/subscriptions/{sub['id']}").status_code == 404
    assert c.delete(f"/warnings/subscriptions/{sub['id']}").status_code == 204
    assert get_json(c, "/warnings/subscriptions")["subscriptions"] == []
    # partners and the public do not see warnings at all
    partner = signed_in(hand.test_client(), token_for(om.store, "partner"))
    for path in ("/warnings", f"/warnings/{wid}", "/warnings/feed", "/collections/warnings/items"):
        assert partner.get(path).status_code in (401, 403, 404), path
        assert hand.test_client().get(path).status_code in (401, 403, 404), path


def test_the_feeds(hand):
    c = admin_client(hand)
    om = hand.extensions["onemap"]
    submit_detailed(om.store)
    file_detailed(c)
    assert om.runner.work_one()
    r = c.get("/warnings/feed")
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    feed = etree.fromstring(r.data, parser)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.text for e in feed.findall("a:entry/a:title", ns)]
    assert len(titles) == 2 and all(t.startswith("[opened] 规划城镇建设用地") for t in titles)
    js = get_json(c, "/warnings/feed?f=json&kind=filing")
    assert js["version"] == "https://jsonfeed.org/version/1.1" and len(js["items"]) == 2
    assert get_json(c, "/warnings/feed?f=json&kind=indicator")["items"] == []
    assert c.get("/warnings/feed?f=rss").status_code == 400


# ---- indicator warnings on the demo region ---------------------------------------------------------------
@pytest.fixture()
def demo_copy(backend, demo_dir, tmp_path, request):
    if backend == "gpkg":
        copy_store(pristine(demo_dir), tmp_path / "onemap.gpkg")
        settings = Settings(data_dir=tmp_path, public_url="http://testserver", job_workers=0)
    else:
        pg = request.getfixturevalue("pg")
        url = pg_clone(pg, request.getfixturevalue("pg_template"))
        settings = Settings(data_dir=tmp_path, database_url=url, public_url="http://testserver", job_workers=0)
    from onemap.server.app import create_app

    app = create_app(settings)
    yield app
    app.extensions["onemap"].store.close()


def _live_indicator_warnings(c) -> dict[tuple[str, str], str]:
    live = get_json(c, "/warnings?kind=indicator&limit=1000")["warnings"]
    return {(w["region"], w["detail"]["indicator"]): w["detail"]["status"] for w in live if w["status"] != "closed"}


def _statuses(c, day: str) -> tuple[dict[tuple[str, str], str], int]:
    """The warning and breach statuses of every region's indicators on ``day`` (the collection's), and how many values."""
    values = get_json(c, f"/collections/indicators/items?f=json&limit=10000&datetime={day}")["features"]
    return ({(f["properties"]["region"], f["properties"]["code"]): f["properties"]["status"] for f in values
             if f["properties"]["status"] in ("warning", "breach")}, len(values))


def _expected(before: dict, after: dict) -> dict[str, int]:
    """The events a scan records going from the live warnings ``before`` to the statuses ``after``."""
    out = {"opened": len(set(after) - set(before)), "closed": len(set(before) - set(after))}
    for key in set(before) & set(after):
        if before[key] != after[key]:
            action = "escalated" if after[key] == "breach" else "eased"
            out[action] = out.get(action, 0) + 1
    return {k: v for k, v in out.items() if v}


def test_indicator_warnings_follow_the_indicator_status(demo_copy):
    c = admin_client(demo_copy)
    before = _live_indicator_warnings(c)  # a filing elsewhere in the session may have queued a scan already
    want, n_values = _statuses(c, "2024-01-01")
    r = c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": "2024-01-01"}})
    assert r.status_code == 200, r.data[:300]
    summary = json.loads(r.data)
    assert want and summary["events_by_kind"].get("indicator", {}) == _expected(before, want)
    assert summary["indicators_checked"] == n_values
    assert _live_indicator_warnings(c) == want
    for w in get_json(c, "/warnings?kind=indicator&status=open&limit=1000")["warnings"]:
        assert w["severity"] == {"warning": "warning", "breach": "severe"}[w["detail"]["status"]]
        assert w["title"]["zh"].endswith(w["detail"]["name"] + {"warning": "预警", "breach": "超标"}[w["detail"]["status"]])
    # the same day again: nothing new
    again = json.loads(c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": "2024-01-01"}}).data)
    assert "indicator" not in again["events_by_kind"]
    # another day: the live warnings become that day's (some closed, some opened, eased or escalated)
    then, _ = _statuses(c, "2022-06-01")
    earlier = json.loads(c.post("/processes/warnings-scan/execution", json={"inputs": {"datetime": "2022-06-01"}}).data)
    assert earlier["events_by_kind"]["indicator"] == _expected(want, then) and _live_indicator_warnings(c) == then
    assert earlier["events_by_kind"]["indicator"].get("closed", 0) > 0  # the 2022 survey the targets were set from meets most of them
    closed = get_json(c, "/warnings?kind=indicator&status=closed&limit=1")["warnings"][0]
    assert get_json(c, f"/warnings/{closed['id']}")["events"][-1]["actor"] == "scan"


def test_the_command_line(hand, tmp_path):
    from .test_cli import run as onemap

    settings = hand.extensions["onemap"].settings
    env = {"ONEMAP_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["ONEMAP_DATABASE_URL"] = settings.database_url
    submit_detailed(hand.extensions["onemap"].store)
    out = onemap("plan", "file", DETAILED, "--by", "测试市自然资源和规划局", "--valid-from", "2024-03-01", env=env)
    assert out.returncode == 0, out.stderr
    assert "warnings scan queued as job" in out.stdout
    scan = onemap("warnings", "scan", "--date", "2024-06-01", env=env)
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout)["events"] == {"opened": 2}
    listed = onemap("warnings", "list", "--kind", "filing", env=env)
    assert listed.returncode == 0 and "规划城镇建设用地占用生态保护红线" in listed.stdout and "2 warning(s)" in listed.stdout
    assert onemap("warnings", "list", "--status", "nope", env=env).returncode == 2


@pytest.mark.parametrize("change, message", [
    (lambda r: r["filing"]["lines"][0].update(severity="fatal"), "unknown severity 'fatal'"),
    (lambda r: r["filing"]["lines"][0].update(layer="nope"), "no layer 'nope' in the catalogue"),
    (lambda r: r["filing"].update(land_use_field="NOPE"), "zxcqghydyh has no field 'NOPE'"),
    (lambda r: r["delivery"].update(backoff_seconds=[]), "delivery.backoff_seconds"),
    (lambda r: r.update(extra=1), "extra"),
])
def test_the_rules_are_checked_when_read(tmp_path, change, message):
    from onemap.config.catalogue import get_catalogue
    from onemap.config.errors import ConfigError
    from onemap.config.warnings import load_warning_rules

    rules = yaml.safe_load((ROOT / "config" / "warnings.yaml").read_text(encoding="utf-8"))
    change(rules)
    path = tmp_path / "warnings.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    layers = {lid: {f.name for f in layer.fields} for lid, layer in get_catalogue().layers.items()}
    with pytest.raises(ConfigError) as err:
        load_warning_rules(path, layers)
    assert message in err.value.description and str(tmp_path) not in err.value.description
