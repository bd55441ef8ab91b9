"""The real ``onemap`` command in a subprocess: plan list/show/approve/file/withdraw/reject, export, load.

Each test works on its own copy of the demo GeoPackage (ONEMAP_DATA_DIR); one test runs the
same cycle on PostGIS with ``--database``. Errors must be one line ``onemap: error: ...``
with exit status 2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from onemap.config.settings import Settings
from onemap.providers.registry import Registry
from onemap.providers.store import open_store
from onemap.providers.store.base import today

from .conftest import ROOT, copy_store, pg_clone, pristine, run_process

ONEMAP = str(Path(sys.executable).parent / "onemap")
COUNTY = "990121-county-master-2022"
NEW = "990121-county-master-2024"
KEYS = {"id", "region", "level", "type", "version", "status", "valid_from", "valid_to"}


@pytest.fixture()
def data_dir(demo_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    copy_store(pristine(demo_dir), d / "onemap.gpkg")
    shutil.copyfile(demo_dir / "dem.tif", d / "dem.tif")
    return d


def run(data_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env["ONEMAP_DATA_DIR"] = str(data_dir)
    return subprocess.run([ONEMAP, *args], capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=timeout, cwd=ROOT, check=False)


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    return p.stdout


def one_sentence_error(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("onemap: error: "), p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    return lines[0]


def plans_json(data_dir: Path, *args: str) -> dict[str, dict]:
    out = ok(run(data_dir, "plan", "list", "--json", *args))
    docs = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(d, dict) for d in docs)
    return {d["id"]: d for d in docs}


def registry_state(data_dir: Path) -> dict:
    """Every entry's fields and trace, read with the Python API (faster than another subprocess)."""
    store = open_store(str(data_dir / "onemap.gpkg"))
    try:
        return {pid: (p.as_record(), store.events(pid)) for pid, p in store.plans().items()}
    finally:
        store.close()


def _date(v) -> str | None:
    return str(v)[:10] if v else None


# ---- list ------------------------------------------------------------------------------------------
def test_plan_list_json_is_one_object_per_line(data_dir, ref):
    out = ok(run(data_dir, "plan", "list", "--json"))
    lines = out.splitlines()
    assert len(lines) == len(ref.plans()) == 25
    docs = [json.loads(line) for line in lines]  # each line is a JSON document on its own
    assert {d["id"] for d in docs} == set(ref.plans())
    for d in docs:
        assert KEYS <= set(d), d
        p = ref.plans()[d["id"]]
        for k in ("region", "level", "type", "version", "status"):
            assert d[k] == p[k], (d["id"], k)
        assert d["valid_from"] == _date(p["valid_from"]) and d["valid_to"] == _date(p["valid_to"])
    assert "东岭县" in out, "Chinese text should be written as UTF-8, not escaped"


COUNTY_CODES = ("990102", "990121", "990122", "990123")
SURVEYS = {f"{c}-county-survey-{y}" for c in COUNTY_CODES for y in (2022, 2023)}
# the land registers (批供用补查): 东岭县's yearly ones and 示范区's rolling one
REGISTERS = {"990121-county-management-2023-1", "990121-county-management-2024-1", "990121-county-management-2025-1",
             "990102-county-management-rolling-20260105"}


@pytest.mark.parametrize("args,want", [
    (("--region", "990100"), {"990100-city-master-2021", "990100-city-master-2023", "990100-city-special-LSWH-2024",
                              "990100-city-special-ZHFZ-2024", "990100-city-detailed-990102DY01-2024",
                              "990121-county-master-2022", "990122-county-master-2022", "990122-county-master-2024",
                              "990123-county-master-2022", "990123-county-master-2025"} | SURVEYS | REGISTERS),
    (("--status", "superseded"), {"990000-province-survey-2022", "990100-city-master-2021"}
     | {s for s in SURVEYS if s.endswith("2022")}),
    (("--level", "county", "--status", "filed"), {"990121-county-master-2022", "990122-county-master-2022",
                                                  "990123-county-master-2022"}
     | {s for s in SURVEYS if s.endswith("2023")} | REGISTERS),
    (("--type", "survey"), {"990000-province-survey-2022", "990000-province-survey-2023"} | SURVEYS),
    (("--type", "special"), {"990100-city-special-LSWH-2024", "990100-city-special-ZHFZ-2024"}),
    (("--subject", "LSWH"), {"990100-city-special-LSWH-2024"}),
    (("--status", "withdrawn"), {"990122-county-master-2024"}),
    (("--status", "submitted"), {"990123-county-master-2025"}),
])
def test_plan_list_filters(data_dir, args, want):
    assert set(plans_json(data_dir, *args)) == want


def _cols(line: str) -> list[int]:
    """Display columns (East Asian wide characters count 2) where each field of a row starts."""
    starts, col, prev_space = [], 0, True
    spaces = 0
    for ch in line:
        if ch == " ":
            spaces += 1
        else:
            if prev_space and (spaces >= 2 or col == 0):
                starts.append(col)
            spaces = 0
        prev_space = ch == " "
        col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return starts


def test_plan_list_prints_a_readable_table(data_dir, ref):
    out = ok(run(data_dir, "plan", "list"))
    lines = out.splitlines()
    assert lines[0].split() == ["id", "status", "valid_from", "valid_to", "title"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = lines[2:]
    assert len(rows) == len(ref.plans())
    header = _cols(lines[0])
    for pid, p in ref.plans().items():
        row = [r for r in rows if r.split()[0] == pid]
        assert len(row) == 1, pid
        fields = row[0].split(None, 4)
        assert fields[1] == p["status"] and fields[4] == p["title"]
        assert fields[2] == (_date(p["valid_from"]) or "-") and fields[3] == (_date(p["valid_to"]) or "-")
        assert _cols(row[0])[:5] == header, (row[0], lines[0])  # the columns line up


# ---- show ------------------------------------------------------------------------------------------
def test_plan_show(data_dir):
    doc = json.loads(ok(run(data_dir, "plan", "show", "990100-city-master-2021", "--json")))
    assert KEYS <= set(doc) and doc["status"] == "superseded" and doc["valid_to"] == "2023-09-01"
    assert isinstance(doc["events"], list)
    text = ok(run(data_dir, "plan", "show", "990100-city-master-2021"))
    assert "990100-city-master-2021" in text and "superseded" in text and "示政函〔2021〕12号" in text


def test_plan_show_json_includes_the_events(data_dir):
    ok(run(data_dir, "plan", "withdraw", COUNTY, "--by", "管理员", "--reason", "规划依法撤销",
           "--valid-to", "2024-03-01"))
    doc = json.loads(ok(run(data_dir, "plan", "show", COUNTY, "--json")))
    assert doc["status"] == "withdrawn" and doc["valid_to"] == "2024-03-01"
    last = doc["events"][-1]
    assert {"at", "by", "from", "to", "reason"} <= set(last)
    assert (last["by"], last["from"], last["to"], last["reason"]) == ("管理员", "filed", "withdrawn", "规划依法撤销")
    assert dt.datetime.fromisoformat(last["at"]).tzinfo is not None
    text = ok(run(data_dir, "plan", "show", COUNTY))
    assert "规划依法撤销" in text and "withdrawn" in text


# ---- the whole cycle ------------------------------------------------------------------------------------
def _cycle(run_, tmp_path: Path, store_url: str) -> None:
    """export -> load -> (checked via the Python API) -> approve (refused) -> transmission check ->
    approve -> file, through the CLI."""
    pkg = tmp_path / "dongling.gpkg"
    out = ok(run_("export", COUNTY, str(pkg), "--format", "gpkg", "--crs", "EPSG:4527"))
    assert pkg.exists() and COUNTY in out
    out = ok(run_("load", str(pkg), "--region", "990121", "--level", "county", "--type", "master",
                  "--version", "2024", "--by", "东岭县自然资源和规划局"))
    assert NEW in out and "submitted" in out
    assert plans_json_from(run_)[NEW]["status"] == "submitted"

    store = open_store(store_url)
    try:
        Registry(store).mark_checked(NEW, "质检员", "quality check passed")
    finally:
        store.close()

    # the gate: no transmission check against the upper plans in force is on record yet
    msg = one_sentence_error(run_("plan", "approve", NEW, "--by", "审批员", "--approval-no", "示市政函〔2024〕5号"))
    assert "transmission" in msg and "990100-city-master-2023" in msg
    gate = json.loads(ok(run_("plan", "gate", NEW)))
    assert (gate["required"], gate["passed"]) == (True, False)
    data_dir = Path(store_url).parent if not store_url.startswith("postgresql") else tmp_path
    settings = Settings(data_dir=data_dir, database_url=store_url if store_url.startswith("postgresql") else None)
    result = run_process(settings, "transmission-check", {"plan_id": NEW})
    assert result["overall"]["result"] == "pass"
    gate = json.loads(ok(run_("plan", "gate", NEW)))
    assert (gate["passed"], gate["certificate"]) == (True, result["certificate"]["id"])

    day_before = today()
    out = ok(run_("plan", "approve", NEW, "--by", "审批员", "--approval-no", "示市政函〔2024〕5号"))
    assert NEW in out and "approved" in out
    out = ok(run_("plan", "file", NEW, "--by", "管理员"))
    day_after = today()
    assert NEW in out and "filed" in out

    plans = plans_json_from(run_)
    new, old = plans[NEW], plans[COUNTY]
    assert new["status"] == "filed" and new["valid_from"] in {day_before.isoformat(), day_after.isoformat()}
    assert new["approval_no"] == "示市政函〔2024〕5号"
    assert old["status"] == "superseded" and old["valid_to"] == new["valid_from"]
    assert COUNTY in plans_json_from(run_, "--status", "superseded")
    assert NEW not in plans_json_from(run_, "--status", "superseded")
    table = ok(run_("plan", "list", "--status", "superseded"))
    assert COUNTY in table and NEW not in table

    doc = json.loads(ok(run_("plan", "show", NEW, "--json")))
    assert doc["approval_override"] is None and result["certificate"]["id"] in doc["events"][2]["reason"]
    assert [c["id"] for c in doc["certificates"]] == [result["certificate"]["id"]]
    assert [(e["from"], e["to"], e["by"]) for e in doc["events"]] == [
        (None, "submitted", "东岭县自然资源和规划局"), ("submitted", "checked", "质检员"),
        ("checked", "approved", "审批员"), ("approved", "filed", "管理员")]
    old_doc = json.loads(ok(run_("plan", "show", COUNTY, "--json")))
    assert old_doc["events"][-1]["to"] == "superseded" and NEW in old_doc["events"][-1]["reason"]

    # loading the same drawer and version again is one sentence
    msg = one_sentence_error(run_("load", str(pkg), "--region", "990121", "--level", "county", "--type",
                                  "master", "--version", "2024"))
    assert NEW in msg


def plans_json_from(run_, *args: str) -> dict[str, dict]:
    out = ok(run_("plan", "list", "--json", *args))
    return {d["id"]: d for d in (json.loads(line) for line in out.splitlines())}


def test_export_load_approve_file_cycle(data_dir, tmp_path):
    _cycle(lambda *a: run(data_dir, *a), tmp_path, str(data_dir / "onemap.gpkg"))


def test_cycle_on_postgis_with_database_option(pg, pg_template, tmp_path):
    url = pg_clone(pg, pg_template)
    empty = tmp_path / "nothing-here"
    empty.mkdir()

    def run_db(*args: str) -> subprocess.CompletedProcess:
        return run(empty, *args, "--database", url)

    assert len(plans_json_from(run_db)) == 25
    _cycle(run_db, tmp_path, url)
    assert not (empty / "onemap.gpkg").exists(), "the command used the GeoPackage, not --database"


# ---- mistakes are one sentence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args,words", [
    (("plan", "approve", COUNTY, "--by", "x", "--approval-no", "1"), [COUNTY, "filed"]),
    (("plan", "file", "990100-city-master-2021", "--by", "x"), ["990100-city-master-2021", "superseded"]),
    (("plan", "withdraw", "990100-city-master-2021", "--by", "x", "--reason", "r"), ["superseded"]),
    (("plan", "reject", COUNTY, "--by", "x", "--reason", "r"), [COUNTY, "filed"]),
    (("plan", "show", "990121-county-master-1999"), ["990121-county-master-1999"]),
    (("plan", "show", "nope", "--json"), ["nope"]),
    (("plan", "approve", "nope", "--by", "x", "--approval-no", "1"), ["nope"]),
    (("plan", "file", "nope", "--by", "x"), ["nope"]),
    (("plan", "withdraw", COUNTY, "--by", "x"), ["reason"]),
    (("plan", "reject", COUNTY, "--by", "x"), ["reason"]),
    (("plan", "withdraw", COUNTY, "--by", "x", "--reason", ""), ["reason"]),
    (("plan", "approve", COUNTY, "--by", "x"), ["approval-no"]),
    (("plan", "approve", COUNTY, "--approval-no", "1"), ["--by"]),
    (("plan", "show"), ["id"]),
    (("plan", "file", COUNTY, "--by", "x", "--valid-from", "yesterday"), ["--valid-from"]),
    (("plan", "list", "--region", "abc"), ["abc"]),
    (("export", "nope", "{tmp}/out.gpkg"), ["nope"]),
    (("export", COUNTY, "{tmp}/out.gpkg", "--crs", "EPSG:3857"), ["--crs"]),
    (("load", "{tmp}/missing.gpkg", "--region", "990121", "--level", "county", "--type", "master",
      "--version", "2025"), ["missing.gpkg"]),
    (("load", "{tmp}/x.gpkg", "--region", "990121", "--level", "district", "--type", "master",
      "--version", "2025"), ["level"]),
])
def test_mistakes_are_one_sentence_and_change_nothing(data_dir, tmp_path, args, words):
    before = registry_state(data_dir)
    msg = one_sentence_error(run(data_dir, *(a.replace("{tmp}", str(tmp_path)) for a in args)))
    for w in words:
        assert w in msg, (w, msg)
    assert registry_state(data_dir) == before
    assert not (tmp_path / "out.gpkg").exists()


def test_withdraw_and_reject_without_reason_are_one_sentence(data_dir):
    for action in ("withdraw", "reject"):
        msg = one_sentence_error(run(data_dir, "plan", action, COUNTY, "--by", "x"))
        assert "reason" in msg and "--reason" in msg
        assert msg.count(". ") == 0, "one sentence"
