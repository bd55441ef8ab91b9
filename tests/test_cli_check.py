"""The real ``onemap check`` in a subprocess: a package or a drawer entry, its reports, its exit
status (0 clean, 1 error findings, 2 usage), and the registry rule (a clean submitted entry moves
to checked; one with errors stays submitted and cannot be approved), on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from onemap.providers.packages import export_plan, load_package
from onemap.providers.store import open_store

from .conftest import ROOT, copy_store, pg_clone, pristine
from .test_cli_plan import one_sentence_error

ONEMAP = str(Path(sys.executable).parent / "onemap")
COUNTY = "990121-county-master-2022"
CITY = "990100-city-master-2023"
NEW = "990121-county-master-2024"


@pytest.fixture()
def data_dir(demo_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    copy_store(pristine(demo_dir), d / "onemap.gpkg")
    return d


def run(data_dir: Path, *args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env["ONEMAP_DATA_DIR"] = str(data_dir)
    return subprocess.run([ONEMAP, *args], capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=timeout, cwd=cwd or ROOT, check=False)


def export(store_url: str, plan_id: str, out: Path) -> Path:
    store = open_store(store_url)
    try:
        return export_plan(store, plan_id, out)
    finally:
        store.close()


def duplicate_bsm(src: Path, out: Path) -> Path:
    """The package with one YJJBNT feature carrying another's BSM (the loader accepts it)."""
    for i, (name, _) in enumerate(pyogrio.list_layers(src)):
        meta, _f, wkb, fields = pyogrio.raw.read(src, layer=str(name))
        fields = [np.asarray(v) for v in fields]
        if name == "YJJBNT":
            bsm = fields[list(meta["fields"]).index("BSM")]
            bsm[3] = bsm[1]
        pyogrio.raw.write(out, geometry=wkb, field_data=fields, fields=list(meta["fields"]), layer=str(name),
                          driver="GPKG", crs=meta["crs"], geometry_type="MultiPolygon", append=i > 0)
    return out


def test_clean_package_exits_0_with_reports_next_to_it(data_dir, tmp_path):
    pkg = export(str(data_dir / "onemap.gpkg"), CITY, tmp_path / "city.gpkg")
    p = run(data_dir, "check", str(pkg), "--region", "990100", "--level", "city", "--type", "master")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "passed (0 errors, 0 warnings" in p.stdout and "Traceback" not in p.stderr
    out = tmp_path / "city.qc"
    assert sorted(f.name for f in out.iterdir()) == ["errors.gpkg", "report.html", "report.json"]
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert doc["status"] == "passed" and doc["subject"]["package"] == "city.gpkg"
    assert doc["subject"]["region_name"] == "示范市" and doc["subject"]["region_source"]
    assert "topology" in p.stderr  # the progress bar


def test_broken_package_exits_1_and_prints_counts_by_rule(data_dir, tmp_path):
    pkg = duplicate_bsm(export(str(data_dir / "onemap.gpkg"), COUNTY, tmp_path / "county.gpkg"),
                        tmp_path / "broken.gpkg")
    out = tmp_path / "reports"
    p = run(data_dir, "check", str(pkg), "--region", "990121", "--level", "county", "--type", "master",
            "--out", str(out), "--quiet")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr == ""  # --quiet: no progress bar
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["rule", "severity", "count", "check"]
    assert lines[2].split()[:3] == ["A04", "error", "1"]
    assert "FAILED (1 errors, 0 warnings" in p.stdout
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [(f["rule"], f["layer"], f["fid"]) for f in doc["findings"]] == [("A04", "YJJBNT", 4)]
    assert not (tmp_path / "broken.qc").exists()


def test_a_survey_with_no_store_at_all(tmp_path, demo_dir):
    """The region of a survey is its own XZQ feature: no store is needed (and none is created)."""
    copy_store(pristine(demo_dir), tmp_path / "demo.gpkg")  # not the session's own file
    pkg = export(str(tmp_path / "demo.gpkg"), "990121-county-survey-2023", tmp_path / "survey.gpkg")
    empty = tmp_path / "nothing"
    empty.mkdir()
    p = run(empty, "check", str(pkg), "--region", "990121", "--level", "county", "--type", "survey", "--quiet")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert list(empty.iterdir()) == []
    doc = json.loads((tmp_path / "survey.qc" / "report.json").read_text(encoding="utf-8"))
    assert doc["subject"]["region_source"] == "XZQ of the checked survey itself"


def test_a_package_for_an_unknown_region_is_checked_against_its_own_outline(data_dir, tmp_path):
    pkg = export(str(data_dir / "onemap.gpkg"), COUNTY, tmp_path / "county.gpkg")
    p = run(data_dir, "check", str(pkg), "--region", "990188", "--level", "county", "--type", "master", "--quiet")
    doc = json.loads((tmp_path / "county.qc" / "report.json").read_text(encoding="utf-8"))
    # every XZQDM (990121) is outside 990188: region codes are errors, the geometry is not judged
    assert p.returncode == 1 and {f["rule"] for f in doc["findings"]} == {"A05"}
    assert doc["notes"] and "990188" in doc["notes"][0]["en"]


def _cycle(run_, store_url: str, tmp_path: Path) -> None:
    """Clean entry: check -> checked -> approve works; entry with errors: stays submitted, approve refused."""
    store = open_store(store_url)
    try:
        clean = export_plan(store, COUNTY, tmp_path / "clean.gpkg")
        load_package(store, clean, region="990121", level="county", type_="master", version="2024")
        bad = duplicate_bsm(clean, tmp_path / "bad.gpkg")
        load_package(store, bad, region="990121", level="county", type_="master", version="2025")
    finally:
        store.close()
    bad_id = "990121-county-master-2025"

    p = run_("check", "--plan", NEW, "--out", str(tmp_path / "new.qc"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert f"{NEW} moved from submitted to checked" in p.stdout
    (tmp_path / "other").mkdir()
    p = run_("check", "--plan", bad_id, "--quiet", cwd=tmp_path / "other")
    assert p.returncode == 1 and "stays submitted" in p.stdout, (p.stdout, p.stderr)
    assert (tmp_path / "other" / f"{bad_id}.qc" / "report.json").exists()  # default: current folder

    plans = {json.loads(line)["id"]: json.loads(line) for line in run_("plan", "list", "--json").stdout.splitlines()}
    assert plans[NEW]["status"] == "checked" and plans[bad_id]["status"] == "submitted"
    doc = json.loads(run_("plan", "show", NEW, "--json").stdout)
    assert (doc["events"][-1]["by"], doc["events"][-1]["to"]) == ("plan-qc", "checked")
    assert doc["events"][-1]["reason"].startswith("quality check passed")

    msg = one_sentence_error(run_("plan", "approve", bad_id, "--by", "审批员", "--approval-no", "示市政函〔2025〕1号"))
    assert bad_id in msg and "submitted" in msg  # Conflict (409): an unchecked entry cannot be approved
    p = run_("plan", "approve", NEW, "--by", "审批员", "--approval-no", "示市政函〔2024〕5号",
             "--override", "test: the transmission gate is not under test here")
    assert p.returncode == 0 and "approved" in p.stdout, p.stderr
    # an approved entry is checked again without moving anywhere
    p = run_("check", "--plan", NEW, "--out", str(tmp_path / "again.qc"), "--quiet")
    assert p.returncode == 0 and "is approved; only a submitted entry moves" in p.stdout


def test_plan_cycle_on_the_geopackage(data_dir, tmp_path):
    _cycle(lambda *a, cwd=None: run(data_dir, *a, cwd=cwd), str(data_dir / "onemap.gpkg"), tmp_path)


def test_plan_cycle_on_postgis_with_database_option(pg, pg_template, tmp_path):
    url = pg_clone(pg, pg_template)
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    _cycle(lambda *a, cwd=None: run(empty, *a, "--database", url, cwd=cwd), url, tmp_path)
    assert not (empty / "onemap.gpkg").exists(), "the command used the GeoPackage, not --database"


@pytest.mark.parametrize("args,words", [
    (("check",), ["PACKAGE", "--plan"]),
    (("check", "{tmp}/x.gpkg", "--plan", COUNTY), ["PACKAGE", "--plan"]),
    (("check", "{pkg}"), ["--region", "--level", "--type"]),
    (("check", "{pkg}", "--region", "990121", "--level", "county"), ["--type"]),
    (("check", "--plan", COUNTY, "--region", "990121"), ["--region"]),
    (("check", "{tmp}/missing.gpkg", "--region", "990121", "--level", "county", "--type", "master"), ["missing.gpkg"]),
    (("check", "{pkg}", "--region", "990121", "--level", "district", "--type", "master"), ["level"]),
    (("check", "{pkg}", "--region", "abc", "--level", "county", "--type", "master"), ["abc"]),
    (("check", "--plan", "990121-county-master-1999"), ["990121-county-master-1999"]),
    (("check", "{tmp}/not-a-package.txt", "--region", "990121", "--level", "county", "--type", "master"),
     ["not-a-package.txt"]),
    (("check", "--frobnicate"), ["--frobnicate"]),
])
def test_usage_errors_are_one_sentence_with_status_2(data_dir, tmp_path, args, words):
    pkg = export(str(data_dir / "onemap.gpkg"), COUNTY, tmp_path / "county.gpkg")
    (tmp_path / "not-a-package.txt").write_text("hello", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    msg = one_sentence_error(run(data_dir, *(a.replace("{tmp}", str(tmp_path)).replace("{pkg}", str(pkg))
                                             for a in args), cwd=tmp_path))
    for w in words:
        assert w in msg, (w, msg)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no reports written
