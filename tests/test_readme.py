"""The README's curl examples, run as written against the demo region `onemap serve` makes (the
default parcels and seed), through the WSGI application: each answers, and the ones whose
comment says what they give give it."""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse
from pathlib import Path

import pytest

from onemap.config.settings import Settings

from .conftest import ROOT

BASE = "http://127.0.0.1:5000"


def commands() -> list[str]:
    """Every ``curl`` command in the README's shell blocks, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        buf: list[str] = []
        for line in joined.splitlines():
            if buf:  # inside a quoted -d '{ ... }' body spread over lines
                buf.append(line)
                if line.rstrip().endswith("}'"):
                    out.append("\n".join(buf))
                    buf = []
                continue
            if line.startswith("curl "):
                if line.count("'") % 2:
                    buf = [line]
                else:
                    out.append(line)
    return out


def request_of(cmd: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, path with query, headers, body) of a curl command line."""
    args = shlex.split(cmd)[1:]
    method, url, headers, body, get, form = None, None, {}, None, False, []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-G":
            get = True
        elif a == "-H":
            k, v = args[i + 1].split(":", 1)
            headers[k.strip()] = v.strip()
            i += 1
        elif a == "-d":
            body = args[i + 1].encode()
            i += 1
        elif a == "--data-urlencode":
            form.append(args[i + 1])
            i += 1
        elif a == "-o":
            i += 1
        elif a == "-i":
            pass
        elif a.startswith("http"):
            url = a
        i += 1
    assert url and url.startswith(BASE), cmd
    path = url[len(BASE):]
    if form:
        pairs = [tuple(f.split("=", 1)) for f in form]
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode(pairs)
    method = "GET" if get or body is None else "POST"
    return method, path, headers, body if method == "POST" else None


def setup_lines() -> list[str]:
    """The README's ``onemap user add``, ``export VAR=$(onemap token create ...)`` and ``onemap population`` lines,
    in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [ln.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) for ln in block.splitlines()]
    return [ln for ln in lines if ln.startswith((".venv/bin/onemap user add ", ".venv/bin/onemap population ", "export "))
            and ("onemap user add" in ln or "onemap token create" in ln or "onemap population" in ln)]


def run_setup(data_dir: Path) -> dict[str, str]:
    """Run the README's user and token lines as written (the CLI of this checkout on ``data_dir``); the
    variables they export."""
    import os
    import subprocess
    import sys

    onemap = str(Path(sys.executable).parent / "onemap")
    env = {**os.environ, "ONEMAP_DATA_DIR": str(data_dir)}
    exported: dict[str, str] = {}
    for line in setup_lines():
        m = re.fullmatch(r"export (\w+)=\$\(\.venv/bin/onemap (token create \S+)\)", line)
        args = shlex.split(m.group(2) if m else line.removeprefix(".venv/bin/onemap "))
        p = subprocess.run([onemap, *args], capture_output=True, text=True, env=env, timeout=120, check=False,
                           cwd=ROOT)  # (the README's paths are the checkout's)
        assert p.returncode == 0, (line, p.stderr)
        if m:
            exported[m.group(1)] = p.stdout.strip()
    return exported


def overlay_files() -> dict[str, str]:
    """The files of the README's overlay example (the blocks after `var/NAME`:)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = dict(re.findall(r"`var/([a-z_]+\.(?:yml|csv))`:\n\n```[a-z]+\n(.*?)```", text, re.DOTALL))
    assert set(found) == {"overlay.yml", "stations.csv"}
    return found


@pytest.fixture(scope="module")
def readme_client(tmp_path_factory):
    """The demo `onemap serve` makes on first start (default size and seed), on the GeoPackage."""
    from onemap.providers.store import open_store
    from onemap.server.app import create_app
    from onemap.server.demo_store import build_demo

    d = tmp_path_factory.mktemp("readme")
    for name, content in overlay_files().items():  # the overlay example, saved as the README says
        (d / name).write_text(content, encoding="utf-8")
    settings = Settings(data_dir=d, public_url=BASE, pygeoapi_overlay=d / "overlay.yml")
    store = open_store(str(settings.gpkg_path))
    try:
        build_demo(settings, store, settings.demo_parcels, settings.demo_seed)
    finally:
        store.close()
    app = create_app(settings)
    client = app.test_client()
    client.readme_env = run_setup(d)  # type: ignore[attr-defined]
    yield client
    app.extensions["onemap"].runner.stop()
    app.extensions["onemap"].store.close()


def test_the_readme_has_its_examples():
    cmds = commands()
    assert len(cmds) >= 30
    assert any("/governing" in c for c in cmds) and any("recorded=" in c for c in cmds)


def with_env(headers: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """Headers with the README's exported variables ($TOKEN, ...) as the shell expands them."""
    return {k: re.sub(r"\$(\w+)", lambda m: env[m.group(1)], v) for k, v in headers.items()}


def test_the_readme_makes_its_tokens_as_it_says(readme_client):
    env = readme_client.readme_env
    assert set(env) == {"TOKEN", "ADMIN"} and all(v.startswith("om_") for v in env.values())
    anon = {c["id"] for c in json.loads(readme_client.get("/collections?f=json").data)["collections"]}
    staff = {c["id"] for c in json.loads(readme_client.get("/collections?f=json", headers={
        "Authorization": f"Bearer {env['TOKEN']}"}).data)["collections"]}
    assert "dltb" not in anon and {"dltb", "stbhhx", "yjjbnt"} <= staff
    assert readme_client.get("/collections/dltb/items?limit=5").status_code == 404


def test_every_curl_example_answers(readme_client):
    answers = {}
    for cmd in commands():
        method, path, headers, body = request_of(cmd)
        headers = with_env(headers, readme_client.readme_env)
        r = readme_client.open(path, method=method, headers=headers, data=body)
        assert r.status_code in (200, 201, 204), (cmd, r.status_code, r.data[:300])
        answers[path] = r
    # what the comments say
    plans = lambda path: {f["properties"]["plan_id"] for f in json.loads(answers[path].data)["features"]}
    now = "/collections/czkfbj/items?region=990122&datetime=2025-06-01&limit=1"
    then = "/collections/czkfbj/items?region=990122&datetime=2025-06-01&recorded=2025-01-01&limit=1"
    assert plans(now) == {"990122-county-master-2022"} and plans(then) == {"990122-county-master-2024"}
    gov = {f["properties"]["plan_id"] for f in json.loads(answers["/collections/stbhhx/items?view=governing&limit=5"]
                                                          .data)["features"]}
    assert "990000-province-master-2021" not in gov
    point = json.loads(answers["/governing?point=117.0,31.45"].data)
    assert {e["status"] for e in point["layers"]} == {"governed"}
    async_qc = [p for p in answers if p.startswith("/processes/plan-qc")]
    assert async_qc and answers[async_qc[0]].status_code == 201
    trace = json.loads(answers["/plans/990122-county-master-2022/trace"].data)
    assert len(trace["periods"]) == 2
    stations = json.loads(answers["/collections/stations/items?f=json"].data)
    assert next(f["properties"]["name"] for f in stations["features"]) == "玉带河水质监测站"
    evaluations = {p.split("/")[2]: answers[p] for p in answers if "evaluation" in p or "health-check" in p}
    assert json.loads(evaluations["status-evaluation"].data)["region"]["name"] == "东岭县"
    assert evaluations["implementation-evaluation"].mimetype.endswith("spreadsheetml.sheet")
    assert "城市体检评估报告" in evaluations["city-health-check"].get_data(as_text=True)
    per_capita = json.loads(answers["/indicators/RJCZJSYDMJ?region=990121&datetime=2024-06-01"].data)["values"][0]
    assert (per_capita["population_year"], per_capita["population"]) == (2024, 252600) and per_capita["note"] is None
    assert 90 <= per_capita["value"] <= 130
    cov = json.loads(answers["/collections/dem/coverage?f=json&bbox=117.0,31.4,117.002,31.402"].data)
    assert cov["type"] == "Coverage" and any(v is not None for v in next(iter(cov["ranges"].values()))["values"])


def test_the_site_outside_the_revised_line_in_the_readme_example_region(readme_client):
    """The tour's compliance example answers from the plan that governs there and cites it."""
    cmd = next(c for c in commands() if "compliance-review" in c)
    method, path, headers, body = request_of(cmd)
    headers = with_env(headers, readme_client.readme_env)
    result = json.loads(readme_client.open(path, method=method, headers=headers, data=body).data)
    assert result["checks"] and all(c["governing_plans"] for c in result["checks"])
    assert result["certificate"]["href"].startswith(BASE + "/certificates/")


def test_the_statistics_examples_sum_the_county_and_print_its_table(readme_client):
    """东岭县's parcels by class and township add up to the county's area; its 汇总表 prints its total."""
    env = readme_client.readme_env
    cmd = next(c for c in commands() if "statistics?group_by=DLBM,region:township&area=990121&datetime" in c)
    method, path, headers, body = request_of(cmd)
    doc = json.loads(readme_client.open(path, method=method, headers=with_env(headers, env)).data)
    assert {r["region"][:6] for r in doc["rows"]} == {"990121"} and doc["total"]["ha"] > 0
    assert abs(sum(r["m2"] for r in doc["rows"]) - doc["total"]["m2"]) < 1
    cmd = next(c for c in commands() if "land-use-summary" in c)
    method, path, headers, body = request_of(cmd)
    html = readme_client.open(path, method=method, headers=with_env(headers, env), data=body).data.decode()
    printed = float(re.search(r'<tfoot>.*?<td class="n">([0-9.]+)</td>', html, re.DOTALL).group(1))
    assert "东岭县土地利用现状分类面积汇总表" in html and abs(printed - doc["total"]["ha"]) < 0.5


def test_readme_names_no_path_outside_the_project():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text
    assert Path(ROOT / "config" / "codes" / "special_plan_subjects.csv").exists()


def test_the_compare_examples_find_the_moved_boundary_and_its_history(readme_client):
    env = readme_client.readme_env
    answers = []
    for cmd in (c for c in commands() if "/processes/compare/" in c):
        method, path, headers, body = request_of(cmd)
        answers.append(readme_client.open(path, method=method, headers=with_env(headers, env), data=body))
    by_plan, report, gpkg = answers
    summary = json.loads(by_plan.data)["summary"]
    assert summary["added_m2"] > 0 and summary["removed_m2"] > 0
    assert f"{summary['added_ha']:.4f}" in report.get_data(as_text=True)  # the dates either side: the same move
    assert gpkg.mimetype == "application/geopackage+sqlite3" and gpkg.data[:16] == b"SQLite format 3\x00"
    history = json.loads(readme_client.get("/collections/czkfbj/items/1/history").data)
    assert [v["plan_id"] for v in history["versions"]][-2:] == ["990100-city-master-2021", "990100-city-master-2023"]
    assert history["versions"][-1]["geometry_changed"] is True  # the 2023 revision moved it


def test_the_land_audit_example_finds_the_planted_cases(readme_client):
    """东岭县 on 2026-06-30: the two unsupplied approvals, the late start and the idle contract the comment names."""
    env = readme_client.readme_env
    cmd = next(c for c in commands() if "land-audit" in c and "990121" in c)
    method, path, headers, body = request_of(cmd)
    doc = json.loads(readme_client.open(path, method=method, headers=with_env(headers, env), data=body).data)
    assert doc["area"]["name"] == "东岭县"
    assert {k: v["count"] for k, v in doc["counts"].items()} == \
        {"approved_not_supplied": 2, "supplied_not_used": 1, "idle": 1}


def test_the_change_detection_example_finds_the_planted_builds(readme_client):
    """南湖县 2022 -> 2023: one finding on each control line, as the README says."""
    env = readme_client.readme_env
    cmd = next(c for c in commands() if "change-detection" in c)
    method, path, headers, body = request_of(cmd)
    doc = json.loads(readme_client.open(path, method=method, headers=with_env(headers, env), data=body).data)
    found = {r["rule"]: r["findings"] for r in doc["rules"]}
    assert doc["area"]["name"] == "南湖县" and found["cropland_to_construction"] > 0
    assert [found[r] for r in ("construction_in_red_line", "construction_on_farmland",
                               "urban_construction_outside_boundary")] == [1, 1, 1]
