"""Who may see and do what (server/access.py): roles and tiers on every route, tokens from the CLI,
OpenID Connect, jobs that belong to whoever started them, the lifecycle over HTTP region by region,
the audit trail, CORS, rate limits, quotas and the slots for heavy work."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from onemap.domain.dates import today as local_today

from .auth import admin_client, signed_in, token_for
from .conftest import eventually, get_json
from .test_cli import run
from .test_tiles import tile_at

# a review over ~100 km² (more than compliance's HEAVY_BOUNDARY_KM2): heavy work, it needs a slot
LARGE = {"boundary": {"type": "Polygon", "coordinates": [[[117.0, 31.4], [117.1, 31.4], [117.1, 31.5], [117.0, 31.5],
                                                          [117.0, 31.4]]]}, "land_use": "0701"}
ROLES = ("public", "partner", "internal", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
COMPLIANCE = {"boundary": {"type": "Polygon", "coordinates": [[[113.95, 22.55], [113.951, 22.55], [113.951, 22.551],
                                                               [113.95, 22.551], [113.95, 22.55]]]},
              "land_use": "0701"}


@pytest.fixture(scope="module")
def tokens(om) -> dict[str, str]:
    """A bearer token per signed-in role (users of the shared demo store)."""
    return {role: token_for(om.store, role) for role in ROLES[1:]}


def as_role(app, tokens: dict[str, str], role: str):
    c = app.test_client()
    return signed_in(c, tokens[role]) if role != "public" else c


def tier_of_collection(om, cid: str) -> str:
    """A catalogue collection's tier, else an overlay resource's (as its configuration declares it)."""
    layer = om.catalogue.collections.get(cid)
    return layer.tier if layer is not None else om.policy.collections[cid]


def reaches(role: str, tier: str) -> bool:
    return RANK[role] >= RANK.get(tier, 2)


def finished(client, job: str) -> str:
    """The status of ``job`` once it is no longer accepted or running (bounded wait)."""
    def done() -> str | None:
        status = get_json(client, f"/jobs/{job}")["status"]
        return None if status in ("accepted", "running") else status

    return eventually(done)


# ---- what each role sees listed --------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_collections_processes_and_openapi_list_what_the_role_reaches(app, om, tokens, role):
    c = as_role(app, tokens, role)
    listed = {x["id"] for x in get_json(c, "/collections?f=json")["collections"]}
    layers = {lid: layer.tier for lid, layer in om.catalogue.layers.items()}
    assert {lid for lid, tier in layers.items() if reaches(role, tier)} <= listed
    assert not {lid for lid, tier in layers.items() if not reaches(role, tier)} & listed
    processes = {p["id"] for p in get_json(c, "/processes?f=json")["processes"]}
    tiers = om.catalogue.process_tiers
    for pid in om.processes:
        assert (pid in processes) == reaches(role, tiers.get(pid, "internal")), (role, pid)
    paths = get_json(c, "/openapi?f=json")["paths"]
    for lid, tier in layers.items():
        assert (f"/collections/{lid}/items" in paths) == reaches(role, tier), (role, lid)
    for pid in om.processes:
        assert (f"/processes/{pid}/execution" in paths) == reaches(role, tiers.get(pid, "internal")), (role, pid)
    assert ("/audit" in paths) == (role == "admin")
    landing = c.get("/?f=html").data.decode()
    for lid, tier in layers.items():
        if not reaches(role, tier):
            assert f"/collections/{lid}" not in landing


def test_the_demo_has_a_layer_of_every_tier(om):
    tiers = {layer.tier for layer in om.catalogue.layers.values()}
    assert tiers == {"public", "partner", "internal"}
    assert set(om.catalogue.process_tiers.values()) == {"partner", "internal"}  # every process needs a signed-in caller


# ---- every route x every role x every tier ---------------------------------------------------------------
FILL = {"featureId": "1", "tileMatrixSetId": "WebMercatorQuad", "tileMatrix": "0", "tileRow": "0", "tileCol": "0",
        "jobId": "00000000-0000-0000-0000-000000000000", "planId": "990199-county-master-2099",
        "certificateId": "nope", "styleId": "onemap", "path": "x"}


def _concrete(om) -> list[tuple[str, str, str, str]]:
    """(method, url, guard, tier) for every served route, once per collection and process."""
    out = []
    for r in om.routes:
        if not r.served or r.path.startswith("/basemaps/") and r.path != "/basemaps":
            continue
        values: list[dict[str, str]] = [{}]
        if r.instances is not None:
            values = [dict(i.values) for i in r.instances()]
        elif "{collectionId}" in r.path:
            values = [{"collectionId": cid} for cid in om.catalogue.layers]
        elif "{processId}" in r.path:
            values = [{"processId": pid} for pid in om.processes]
        for v in values:
            url = r.path
            for name in set(__import__("re").findall(r"\{(\w+)\}", r.path)):
                url = url.replace("{" + name + "}", v.get(name, FILL.get(name, "x")))
            if r.guard == "collection":
                tier = tier_of_collection(om, v.get("collectionId", ""))
            elif r.guard == "process":
                tier = om.catalogue.process_tiers.get(v.get("processId", ""), "internal")
            else:
                tier = {"open": "public", "user": "partner", "internal": "internal", "admin": "admin"}.get(r.guard,
                                                                                                          "public")
            out.append((r.method, url, r.guard, tier))
    return out


def test_every_route_answers_every_role_by_its_tier(app, om, tokens):
    """No route answers a role below its tier with anything but 401/403/404 (and nothing from the resource);
    none answers a role that reaches it with 401/403; none answers anyone with a 5xx."""
    routes = _concrete(om)
    assert len(routes) > 60
    guarded = {g for _m, _u, g, _t in routes}
    assert {"collection", "process", "user", "internal", "admin", "open"} <= guarded
    seen = 0
    for role in ROLES:
        c = as_role(app, tokens, role)
        for method, url, guard, tier in routes:
            kw = {"json": {}} if method == "POST" else {}
            r = c.open(url, method=method, **kw)
            seen += 1
            assert r.status_code < 500, (role, method, url, r.status_code, r.data[:200])
            needed = "admin" if tier == "admin" else tier
            allowed = RANK[role] >= RANK.get(needed, 3) if needed != "admin" else role == "admin"
            if not allowed:
                assert r.status_code in (401, 403, 404), (role, method, url, r.status_code)
                if role == "public" and guard in ("user", "internal", "admin"):
                    assert r.status_code == 401 and "Bearer" in r.headers.get("WWW-Authenticate", ""), (url,)
                body = r.data.decode("utf-8", "replace")
                assert '"features"' not in body and '"jobs"' not in body and '"records"' not in body
            else:
                assert r.status_code not in (401, 403), (role, method, url, r.status_code, r.data[:200])
                ours = "/items" in url or "/tiles/" in url or url.count("/") == 2 or "/processes/" in url
                if r.status_code == 404 and guard in ("collection", "process") and ours:
                    assert b"does not exist" not in r.data and b"no process" not in r.data, (role, url)
    assert seen > 250


@pytest.mark.parametrize("role", ROLES)
def test_items_tiles_and_dataset_tiles_of_each_tier(app, om, tokens, role):
    c = as_role(app, tokens, role)
    row, col = tile_at("WebMercatorQuad", 12)
    for lid, layer in om.catalogue.layers.items():
        items = c.get(f"/collections/{lid}/items?limit=1&f=json")
        tile = c.get(f"/collections/{lid}/tiles/WebMercatorQuad/12/{row}/{col}", headers={"Accept-Encoding": "gzip"})
        dataset = c.get(f"/tiles/WebMercatorQuad/12/{row}/{col}?collections={lid}")
        if reaches(role, layer.tier):
            assert items.status_code == 200, (role, lid)
            assert tile.status_code in (200, 204) and dataset.status_code in (200, 204), (role, lid)
        else:
            assert items.status_code == tile.status_code == dataset.status_code == 404, (role, lid)
    # the dataset tile without a choice holds the layers the caller reaches, no more
    from .test_tiles import decode

    r = c.get(f"/tiles/WebMercatorQuad/12/{row}/{col}")
    layers = set(decode(r.data)) if r.status_code == 200 else set()
    assert not {lid for lid in layers if not reaches(role, om.catalogue.layers[lid].tier)}


def test_a_cached_tile_of_an_internal_layer_is_never_served_without_a_token(app, om, tokens):
    row, col = tile_at("WebMercatorQuad", 12)
    internal = next(lid for lid, layer in om.catalogue.layers.items() if layer.tier == "internal")
    url = f"/collections/{internal}/tiles/WebMercatorQuad/12/{row}/{col}"
    gz = {"Accept-Encoding": "gzip"}
    staff = as_role(app, tokens, "internal")
    for _ in range(2):  # rendered and cached, then a cache hit
        assert staff.get(url, headers=gz).status_code in (200, 204)
    anon = app.test_client().get(url, headers=gz)
    assert anon.status_code == 404 and "X-Cache" not in anon.headers
    # a signed-in answer is the caller's own: no shared cache may keep it
    hit = staff.get(url, headers=gz)
    if hit.status_code == 200:
        assert "public" not in hit.headers["Cache-Control"] and "Authorization" in hit.headers["Vary"]
        assert gzip.decompress(hit.data)


def test_unapproved_plans_are_internal(app, tokens):
    submitted = "990123-county-master-2025"
    anon = app.test_client()
    listed = {f["id"] for f in get_json(anon, "/collections/plans/items?limit=1000&f=json")["features"]}
    assert submitted not in listed and "990123-county-master-2022" in listed
    assert get_json(anon, "/collections/plans/items?status=submitted&f=json")["features"] == []
    get_json(anon, f"/collections/plans/items/{submitted}?f=json", status=404)
    get_json(anon, f"/plans/{submitted}/trace", status=404)
    # a plan_id the caller may not see selects nothing, as an unknown one does (its existence is not told)
    assert get_json(anon, f"/collections/ghfq/items?plan_id={submitted}&f=json")["features"] == []
    assert get_json(anon, "/collections/ghfq/items?plan_id=nope-plan&f=json")["features"] == []
    partner = as_role(app, tokens, "partner")
    get_json(partner, f"/collections/plans/items/{submitted}?f=json", status=404)
    staff = as_role(app, tokens, "internal")
    assert get_json(staff, f"/collections/plans/items/{submitted}?f=json")["properties"]["status"] == "submitted"
    assert get_json(staff, f"/plans/{submitted}/trace")["plan"]["id"] == submitted


# ---- tokens from the command line -------------------------------------------------------------------
def _cli_env(settings) -> dict[str, str]:
    env = {"ONEMAP_DATA_DIR": str(settings.data_dir.resolve())}
    if settings.database_url:
        env["ONEMAP_DATABASE_URL"] = settings.database_url
    return env


def test_a_token_from_the_cli_reads_internal_layers_until_revoked(app, om, settings):
    env = _cli_env(settings)
    name = f"staff-{time.time_ns()}"
    added = run("user", "add", name, "--role", "internal", "--region", "990121", env=env)
    assert added.returncode == 0, added.stderr
    made = run("token", "create", name, env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("om_") and len(token) > 30
    internal = next(lid for lid, layer in om.catalogue.layers.items() if layer.tier == "internal")
    c = signed_in(app.test_client(), token)
    assert internal in {x["id"] for x in get_json(c, "/collections?f=json")["collections"]}
    assert get_json(c, f"/collections/{internal}/items?limit=1&f=json")["features"]
    get_json(app.test_client(), f"/collections/{internal}/items?limit=1", status=404)
    listed = run("token", "list", env=env).stdout
    token_id = next(line.split("\t")[0] for line in listed.splitlines() if f"\t{name}\t" in line)
    assert token.split("_")[2] not in listed  # the secret is shown once, never stored or listed
    assert run("token", "revoke", token_id, env=env).returncode == 0
    # a server forgets a cached token within 30 s; here at once
    app.extensions["onemap"].access.identity._cache.clear()
    r = c.get("/collections?f=json")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    bad = app.test_client().get("/collections", headers={"Authorization": "Bearer om_nope_nope"})
    assert bad.status_code == 401
    assert app.test_client().get("/collections", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_the_cli_refuses_an_unknown_role_or_region(settings):
    env = _cli_env(settings)
    bad = run("user", "add", "x", "--role", "root", env=env)
    assert bad.returncode == 2 and "role" in bad.stderr
    bad = run("user", "add", "x", "--role", "internal", "--region", "12", env=env)
    assert bad.returncode == 2 and "region" in bad.stderr
    assert run("token", "create", "nobody-here", env=env).returncode == 2


# ---- processes and jobs --------------------------------------------------------------------------------
def test_a_partner_runs_partner_processes_and_not_internal_ones(app, om, tokens):
    partner = as_role(app, tokens, "partner")
    r = partner.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE})
    assert r.status_code == 200, r.data[:300]
    for pid in ("transmission-check", "plan-qc"):
        assert partner.post(f"/processes/{pid}/execution", json={"inputs": {}}).status_code == 404
        assert partner.get(f"/processes/{pid}").status_code == 404
    anon = app.test_client()
    assert anon.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE}).status_code == 404


def test_jobs_belong_to_whoever_started_them(app, om, tokens):
    a = signed_in(app.test_client(), token_for(om.store, "partner"))
    b = signed_in(app.test_client(), token_for(om.store, "partner"))
    r = a.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE},
               headers={"Prefer": "respond-async"})
    assert r.status_code == 201
    job = r.headers["Location"].rsplit("/", 1)[1]
    assert finished(a, job) == "successful"
    mine = {j["jobID"] for j in get_json(a, "/jobs?limit=1000")["jobs"]}
    assert job in mine
    assert job not in {j["jobID"] for j in get_json(b, "/jobs?limit=1000")["jobs"]}
    for how in (b.get(f"/jobs/{job}"), b.get(f"/jobs/{job}/results"), b.delete(f"/jobs/{job}")):
        assert how.status_code == 404
    assert get_json(a, f"/jobs/{job}")["status"] == "successful"  # b's dismissal changed nothing
    admin = as_role(app, tokens, "admin")
    assert job in {j["jobID"] for j in get_json(admin, "/jobs?limit=1000")["jobs"]}
    assert get_json(admin, f"/jobs/{job}")["x-onemap"]["owner"] == get_json(a, f"/jobs/{job}")["x-onemap"]["owner"]
    assert app.test_client().get("/jobs").status_code == 401
    # the certificate of a's review is a's: b cannot read it, a and the bureau can
    cert = get_json(a, f"/jobs/{job}/results")["certificate"]["id"]
    assert a.get(f"/certificates/{cert}").status_code == 200
    assert b.get(f"/certificates/{cert}").status_code == 404
    assert as_role(app, tokens, "internal").get(f"/certificates/{cert}").status_code == 200


# ---- the lifecycle over HTTP, region by region ---------------------------------------------------------
@pytest.fixture()
def bureau(fresh_settings):
    from onemap.server.app import create_app

    app = create_app(fresh_settings)
    store = app.extensions["onemap"].store
    people = {
        "dongling": token_for(store, "internal", "990121", name="dongling.planning"),
        "xiling": token_for(store, "internal", "990123", name="xiling.planning"),
        "partner": token_for(store, "partner", name="water-ministry-system"),
    }
    return app, store, {k: signed_in(app.test_client(), t) for k, t in people.items()}


def test_the_lifecycle_over_http_is_region_scoped_and_names_the_person(bureau, tmp_path):
    from onemap.providers.packages import export_plan

    app, store, who = bureau
    dongling, xiling = who["dongling"], who["xiling"]
    package = export_plan(store, "990121-county-master-2022", tmp_path / "pkg.gpkg", "gpkg", "EPSG:4490")
    url = "/plans?region=990121&level=county&type=master&version=2026&title=东岭县国土空间总体规划（2026修改）"
    headers = {"Content-Type": "application/geopackage+sqlite3"}
    data = package.read_bytes()
    assert xiling.post(url, data=data, headers=headers).status_code == 403  # another county's drawer
    assert who["partner"].post(url, data=data, headers=headers).status_code == 403
    assert app.test_client().post(url, data=data, headers=headers).status_code == 401
    assert store.plan("990121-county-master-2026") is None
    r = dongling.post(url, data=data, headers=headers)
    assert r.status_code == 201, r.data[:400]
    pid = r.get_json()["id"]
    assert pid == "990121-county-master-2026" and r.get_json()["status"] == "submitted"
    # the check: a plan-qc job of the person asking; a clean check moves the entry to checked
    r = dongling.post(f"/plans/{pid}/check", json={})
    assert r.status_code == 201
    job = r.headers["Location"].rsplit("/", 1)[1]
    assert finished(dongling, job) == "successful", dongling.get(f"/jobs/{job}/results").data[:500]
    assert store.plan(pid).status == "checked"
    assert xiling.post(f"/plans/{pid}/approve", json={"approval_no": "东政函〔2026〕1号"}).status_code == 403
    r = dongling.post(f"/plans/{pid}/approve", json={"approval_no": "东政函〔2026〕1号", "approval_date": "2026-01-05",
                                                     "override": "transmission check not under test"})
    assert r.status_code == 200 and r.get_json()["status"] == "approved", r.data[:300]
    assert xiling.post(f"/plans/{pid}/file", json={}).status_code == 403
    r = dongling.post(f"/plans/{pid}/file", json={"valid_from": "2026-01-10"})
    assert r.status_code == 200 and r.get_json()["status"] == "filed", r.data[:300]
    # no free-text 'by' over HTTP: every step names the signed-in person
    trace = get_json(dongling, f"/plans/{pid}/trace")
    people = {e["by"] for e in trace["events"]}
    assert people == {"dongling.planning"}, trace["events"]
    r = dongling.post(f"/plans/{pid}/withdraw", json={"reason": "test", "by": "someone else"})
    assert r.status_code == 400 and "by" in r.get_json()["description"]
    # 西岭 rejects its own submission, not 东岭's
    assert dongling.post("/plans/990123-county-master-2025/reject", json={"reason": "x"}).status_code == 403
    r = xiling.post("/plans/990123-county-master-2025/reject", json={"reason": "图层缺失"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    # the audit trail: every step and every refusal, with the person, chained
    admin = admin_client(app)
    records = get_json(admin, "/audit?limit=1000")["records"]
    done = [(x["who"], x["action"], x["outcome"]) for x in records]
    assert ("dongling.planning", "POST /plans", "201") in done
    assert ("dongling.planning", "POST /plans/{planId}/approve", "200") in done
    assert ("dongling.planning", "POST /plans/{planId}/file", "200") in done
    assert ("xiling.planning", "POST /plans", "denied 403") in done or ("xiling.planning", "POST /plans", "403") in done
    assert ("xiling.planning", "POST /plans/{planId}/approve", "403") in done
    assert ("xiling.planning", "POST /plans/{planId}/reject", "200") in done
    assert any(x["who"] == "anonymous" and x["outcome"].endswith("401") for x in records)
    assert all(x["request_id"] for x in records if x["who"] == "dongling.planning")
    assert get_json(admin, "/audit/verify")["intact"] is True
    csv = admin.get("/audit?f=csv")
    assert csv.status_code == 200 and "dongling.planning" in csv.data.decode()
    assert dongling.get("/audit").status_code == 403


def test_partner_calls_and_denials_are_in_the_audit_trail(bureau):
    _app, store, who = bureau
    r = who["partner"].post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE})
    assert r.status_code == 200
    who["partner"].get("/collections/stbhhx/items?limit=1")  # internal: denied as missing
    records = store.access.records(who="water-ministry-system")
    actions = [(x["action"], x["outcome"]) for x in records]
    assert ("POST /processes/{processId}/execution", "200") in actions
    assert ("GET /collections/{collectionId}/items", "denied 404") in actions
    assert store.access.verify_chain()[0]


def test_the_audit_trail_cannot_be_edited(bureau):
    from onemap.config.errors import OneMapError

    _app, store, who = bureau
    who["partner"].get("/collections?f=json")
    store.access.append("x", "admin", "test", "ok")
    table = store._table_sql("audit")
    # each backend raises its own driver's error
    with pytest.raises(Exception) as exc, store.write_cursor() as cur:
        cur.execute(f"UPDATE {table} SET who = 'nobody'")
    assert "append-only" in str(exc.value) or isinstance(exc.value, OneMapError)
    assert store.access.verify_chain()[0]


# ---- OpenID Connect ----------------------------------------------------------------------------------
@pytest.fixture()
def idp():
    """An identity provider's JWKS on 127.0.0.1 and a key to sign tokens with."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def _jwt(key, **claims) -> str:
    import jwt

    now = int(time.time())
    base = {"iss": "https://idp.example.gov.cn/realms/province", "aud": "onemap", "iat": now, "exp": now + 300,
            "sub": "u-1", "preferred_username": "zhang.san"}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm="RS256",
                      headers={"kid": "k1"})


def test_tokens_from_the_provinces_identity_provider(idp, settings):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from onemap.server.app import create_app

    key, jwks = idp
    s = settings.model_copy(update={"oidc_issuer": "https://idp.example.gov.cn/realms/province",
                                    "oidc_audience": "onemap", "oidc_jwks_url": jwks})
    app = create_app(s)
    internal = next(lid for lid, layer in app.extensions["onemap"].catalogue.layers.items() if layer.tier == "internal")

    def get(token: str):
        return app.test_client().get(f"/collections/{internal}/items?limit=1&f=json",
                                     headers={"Authorization": f"Bearer {token}"})

    assert get(_jwt(key, onemap_role=["internal"])).status_code == 200
    assert get(_jwt(key, onemap_role="partner")).status_code == 404  # a partner does not reach it
    assert get(_jwt(key)).status_code == 404  # no role claim: the public tier
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (_jwt(key, onemap_role="internal", aud="someone-else"),
                _jwt(key, onemap_role="internal", iss="https://evil.example"),
                _jwt(key, onemap_role="internal", exp=int(time.time()) - 10),
                _jwt(other, onemap_role="internal"),
                _jwt(key, onemap_role="internal", exp=None)):
        assert get(bad).status_code == 401
    # an unsigned token ("alg": "none") is refused too
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT","kid":"k1"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"iss": s.oidc_issuer, "aud": "onemap", "exp": int(time.time()) + 60,
                                                  "sub": "x", "onemap_role": "admin"}).encode()).rstrip(b"=").decode()
    assert get(f"{head}.{claims}.").status_code == 401


# ---- CORS and headers ------------------------------------------------------------------------------
def test_another_origin_may_read_the_public_tier_and_change_nothing(app, tokens):
    anon = app.test_client()
    evil = "https://evil.example"
    for method in ("DELETE", "POST", "PUT"):
        r = anon.options("/jobs/x", headers={"Origin": evil, "Access-Control-Request-Method": method})
        assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers, method
    r = anon.options("/processes/compliance-review/execution", headers={
        "Origin": evil, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 403
    r = anon.options("/collections", headers={"Origin": evil, "Access-Control-Request-Method": "GET",
                                              "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 403  # credentials from another origin: no
    r = anon.options("/collections", headers={"Origin": evil, "Access-Control-Request-Method": "GET"})
    assert r.status_code in (200, 204) and r.headers["Access-Control-Allow-Origin"] == "*"
    # a form post needs no preflight: refused before anything runs, and executions take JSON only
    staff = as_role(app, tokens, "internal")
    r = staff.post("/plans/990123-county-master-2025/reject", data="reason=x",
                   headers={"Origin": evil, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403
    r = as_role(app, tokens, "partner").post("/processes/compliance-review/execution",
                                            data=json.dumps({"inputs": COMPLIANCE}), content_type="text/plain")
    assert r.status_code == 415
    r = anon.get("/collections?f=html")
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "frame-ancestors" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"]


def test_an_allowed_origin_may_send_credentials(settings, tokens):
    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"cors_origins": ["https://portal.gov.example"]}))
    r = app.test_client().options("/jobs/x", headers={
        "Origin": "https://portal.gov.example", "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization"})
    assert r.status_code in (200, 204)
    assert r.headers["Access-Control-Allow-Origin"] == "https://portal.gov.example"
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"] and "Origin" in r.headers["Vary"]



def test_a_page_of_another_origin_reads_an_async_jobs_location(settings, tokens):
    """Fetch from another origin exposes only the headers named in Access-Control-Expose-Headers: an
    asynchronous execution's Location and Preference-Applied (test_jobs: its 201 carries both), and the request
    id to quote to the operators; for a signed-in page of an allowed origin and for any page reading the public
    tier alike."""
    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"cors_origins": ["https://portal.gov.example"]}))
    partner = signed_in(app.test_client(), tokens["partner"])
    r = partner.get("/jobs", headers={"Origin": "https://portal.gov.example"})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://portal.gov.example"
    exposed = {h.strip().lower() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"location", "preference-applied", "x-request-id"} <= exposed
    anon = app.test_client().get("/collections", headers={"Origin": "http://portal.example"})
    assert anon.headers["Access-Control-Allow-Origin"] == "*"
    assert anon.headers["Access-Control-Expose-Headers"] == r.headers["Access-Control-Expose-Headers"]

# ---- limits ---------------------------------------------------------------------------------------------
def test_rate_limits_and_quotas_per_caller(settings):
    from onemap.server.app import create_app

    app = create_app(settings.model_copy(update={"rate_limit": "20/minute", "rate_limit_execute": "2/minute",
                                                 "jobs_per_day": 3, "rate_limit_storage": "memory://"}))
    store = app.extensions["onemap"].store
    partner = signed_in(app.test_client(), token_for(store, "partner"))
    other = signed_in(app.test_client(), token_for(store, "partner"))
    codes = [partner.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    r = partner.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert other.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE}).status_code == 200
    anon = app.test_client()
    codes = [anon.get("/collections?f=json").status_code for _ in range(25)]
    assert codes.count(200) == 20 and codes[-1] == 429
    # the daily quota: the third execution of the day is the last one
    quota = create_app(settings.model_copy(update={"jobs_per_day": 2}))
    q = signed_in(quota.test_client(), token_for(quota.extensions["onemap"].store, "partner"))
    codes = [q.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]


def test_heavy_work_takes_a_slot_and_light_requests_stay_answered(settings, tmp_path):
    from onemap.processes.slots import HeavySlots
    from onemap.server.app import create_app

    s = settings.model_copy(update={"heavy_slots": 1})
    app = create_app(s)
    partner = signed_in(app.test_client(), token_for(app.extensions["onemap"].store, "partner"))
    before = len(get_json(admin_client(app), "/jobs?limit=1000")["jobs"])
    held = HeavySlots(Path(s.data_dir) / "run", 1).take()  # another worker of this host runs a review
    assert held is not None
    try:
        started = time.monotonic()
        r = partner.post("/processes/compliance-review/execution", json={"inputs": LARGE})
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert "slot" in r.get_json()["description"] and time.monotonic() - started < 10
        assert app.test_client().get("/collections?f=json").status_code == 200
        assert len(get_json(admin_client(app), "/jobs?limit=1000")["jobs"]) == before  # nothing was started
        # a project's usual boundary is light: it runs beside the heavy work
        assert partner.post("/processes/compliance-review/execution", json={"inputs": COMPLIANCE}).status_code == 200
    finally:
        held.release()
    assert partner.post("/processes/compliance-review/execution", json={"inputs": LARGE}).status_code == 200


def test_a_dead_process_frees_its_slot(tmp_path):
    import subprocess
    import sys

    from onemap.processes.slots import HeavySlots

    code = ("import time; from pathlib import Path; from onemap.processes.slots import HeavySlots; "
            f"s = HeavySlots(Path({str(tmp_path)!r}), 1).take(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert HeavySlots(tmp_path, 1).take() is None
    finally:
        holder.kill()
        holder.wait(timeout=10)
    slot = HeavySlots(tmp_path, 1).take(wait=5)
    assert slot is not None
    slot.release()


def test_dates_in_audit_queries_are_checked(app, tokens):
    admin = as_role(app, tokens, "admin")
    get_json(admin, "/audit?since=yesterday", status=400)
    since = (local_today() - dt.timedelta(days=1)).isoformat()
    assert isinstance(get_json(admin, f"/audit?since={since}&limit=5")["records"], list)


def test_retention_keeps_the_chain_verifiable_and_an_edit_is_found(fresh_settings):
    """`onemap audit retain` removes what is past its keep time and the rest still verifies; a record
    changed behind the server's back (its trigger dropped first) breaks the chain where it was changed."""
    from onemap.providers.store import open_store

    store = open_store(fresh_settings.store_url)
    try:
        for i in range(3):
            store.access.append("old.user", "internal", "POST /plans", "201", target=f"old-{i}")
        time.sleep(4.0)
        kept = store.access.append("new.user", "internal", "POST /plans", "201", target="new")
    finally:
        store.close()
    # a keep time of 3.5 s: the old records are past it, the new one not (whatever the CLI's start takes, < 3.5 s)
    env = {**_cli_env(fresh_settings), "ONEMAP_AUDIT_KEEP_DAYS": str(3.5 / 86400)}
    out = run("audit", "retain", env=env)
    assert out.returncode == 0 and "records older than" in out.stdout, out.stderr
    assert run("audit", "verify", env=_cli_env(fresh_settings)).returncode == 0
    store = open_store(fresh_settings.store_url)
    try:
        rows = store.access.records(limit=10_000)
        assert [r["target"] for r in rows] == ["new"] and rows[0]["seq"] == kept["seq"]
        assert store.access.verify_chain()[0]
        # an edit behind the server's back (the append-only guard removed first) is found where it was made
        later = store.access.append("x", "admin", "test", "ok")
        table = store._table_sql("audit")
        with store.write_cursor() as cur:
            if store.backend == "postgis":
                cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER audit_append_only")
                cur.execute(f"UPDATE {table} SET who = 'someone.else' WHERE seq = %s", [kept["seq"]])
            else:
                cur.execute("DROP TRIGGER IF EXISTS audit_no_update")
                cur.execute(f"UPDATE {table} SET who = 'someone.else' WHERE seq = ?", [kept["seq"]])
        ok, _count, broken = store.access.verify_chain()
        assert not ok and broken == kept["seq"] and broken < later["seq"]
    finally:
        store.close()
    bad = run("audit", "verify", env=_cli_env(fresh_settings))
    assert bad.returncode != 0


def test_state_changes_on_the_command_line_are_in_the_audit_trail(fresh_settings):
    env = _cli_env(fresh_settings)
    out = run("plan", "reject", "990123-county-master-2025", "--by", "审查员", "--reason", "图层缺失", env=env)
    assert out.returncode == 0, out.stderr
    from onemap.providers.store import open_store

    store = open_store(fresh_settings.store_url)
    try:
        (rec,) = store.access.records(action="plan.reject")
        assert rec["who"].startswith("cli:") and rec["target"] == "990123-county-master-2025"
        assert json.loads(rec["detail"]) == {"by": "审查员"}  # the person the operator named
        assert store.access.verify_chain()[0]
    finally:
        store.close()
