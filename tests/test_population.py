"""The population table: `onemap population load/list/delete`, the strict reader, and the per-capita rules.

Every refusal leaves the store as it was (its rows and its population version); a clean file replaces the rows
of the (region, year) pairs it carries and nothing else. The per-capita rules (the date's year, else the latest
earlier year held; a region without a row takes the sum of its sub-regions when all have one; otherwise null
with a note) are checked on scenarios built by deleting rows of the demo's table: the numerator (the survey's
land) does not change, so each value times the population it names is the same figure.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from onemap.config.errors import LoadError
from onemap.providers.population import read_population
from onemap.providers.store import open_store

from .conftest import get_json
from .test_cli import one_sentence_error, run

HEADER = "XZQDM,XZQMC,NF,CZRK,CZCZRK,SJLY"
GOOD = ["990121,东岭县,2023,800000,300000,示范市统计年鉴2024", "990121101,东岭镇,2023,250000,130000,示范市统计年鉴2024"]
DAY = "2024-01-01"


def _csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("\n".join([HEADER, *lines]).encode(encoding) + b"\n")
    return path


def _env(settings) -> dict[str, str]:
    env = {"ONEMAP_DATA_DIR": str(settings.data_dir)}
    if settings.backend == "postgis":
        env["ONEMAP_DATABASE_URL"] = settings.database_url
    return env


@pytest.fixture()
def store(fresh_settings):
    s = open_store(fresh_settings.store_url)
    yield s
    s.close()


# ---- the reader -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_is_read_in_utf8_with_or_without_bom_and_in_gbk(tmp_path, encoding):
    rows = read_population(_csv(tmp_path / "p.csv", GOOD, encoding))
    assert [(r.region, r.name, r.year, r.resident, r.urban, r.rural, r.source) for r in rows] == [
        ("990121", "东岭县", 2023, 800000, 300000, 500000, "示范市统计年鉴2024"),
        ("990121101", "东岭镇", 2023, 250000, 130000, 120000, "示范市统计年鉴2024")]


def test_xlsx_is_read_with_numbers_as_a_spreadsheet_keeps_them(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active.append(["this sheet is notes"])
    ws = wb.create_sheet("人口")
    ws.append(HEADER.split(","))
    ws.append([990121, "东岭县", 2023, 800000.0, 300000, "示范市统计年鉴2024"])  # codes and counts as numbers
    ws.append([])  # a trailing empty row, as spreadsheets keep them
    wb.save(tmp_path / "p.xlsx")
    (row,) = read_population(tmp_path / "p.xlsx", sheet="人口")
    assert (row.region, row.year, row.resident, row.urban) == ("990121", 2023, 800000, 300000)
    with pytest.raises(LoadError, match="no sheet"):
        read_population(tmp_path / "p.xlsx", sheet="nope")


BAD_ROWS = [
    ("99012,x,2023,100,50,s", "XZQDM '99012' is not an administrative division code"),
    ("99012a,x,2023,100,50,s", "is not an administrative division code"),
    (",x,2023,100,50,s", "XZQDM (the region code) is empty"),
    ("990121,x,1800,100,50,s", "NF '1800' is not a year"),
    (f"990121,x,{dt.date.today().year + 1},100,50,s", "is not a year"),
    ("990121,x,二〇二三,100,50,s", "is not a year"),
    ("990121,x,2023,,50,s", "CZRK (常住人口（人）) is empty"),
    ("990121,x,2023,100,,s", "CZCZRK (城镇常住人口（人）) is empty"),
    ("990121,x,2023,-100,50,s", "CZRK '-100' is not a whole number of persons"),
    ("990121,x,2023,100.5,50,s", "CZRK '100.5' is not a whole number of persons"),
    ("990121,x,2023,10万,50,s", "CZRK '10万' is not a whole number of persons"),
    ("990121,x,2023,100,150,s", "CZCZRK 150 is more than CZRK 100"),
    ("990121,x,2023,100,50,", "SJLY (数据来源) is empty"),
    ("990122,x,2023,100,50,s\n990122,y,2023,200,60,s", "row 5 (990122): a second row of 990122 in 2023 (the first is row 4)"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ROWS)
def test_each_bad_row_refuses_the_whole_file_naming_the_row_and_the_store_is_unchanged(store, tmp_path, line,
                                                                                     message):
    before, version = store.population(), store.population_version()
    path = _csv(tmp_path / "bad.csv", [*GOOD, line])
    with pytest.raises(LoadError) as err:
        from onemap.providers.population import load_population

        load_population(store, path)
    text = err.value.description
    assert message in text and "row 4" in text and "nothing was written" in text, text
    assert "row 2" not in text and "row 3" not in text  # the good rows are not blamed
    assert store.population() == before and store.population_version() == version


@pytest.mark.parametrize(("content", "message"), [
    ("XZQDM,NF,CZRK\n990121,2023,100\n", "required columns CZCZRK, SJLY missing"),
    ("XZQDM,XZQDM,NF,CZRK,CZCZRK,SJLY\n", "the column XZQDM is named twice"),
    (f"{HEADER}\n", "has a header but no rows"),
    ("", "is empty"),
])
def test_a_file_without_the_columns_or_rows_is_refused(tmp_path, content, message):
    (tmp_path / "p.csv").write_text(content, encoding="utf-8")
    with pytest.raises(LoadError, match=message):
        read_population(tmp_path / "p.csv")


def test_files_that_are_not_tables_are_refused(tmp_path):
    (tmp_path / "p.txt").write_text(HEADER, encoding="utf-8")
    (tmp_path / "p.xlsx").write_bytes(b"not a workbook")
    (tmp_path / "p.csv").write_bytes(b"\xff\xfe\x00\x81\xff")
    for name, message in (("p.txt", "is a .csv"), ("p.xlsx", "cannot be read as an XLSX"),
                          ("p.csv", "neither UTF-8 nor GBK"), ("none.csv", "does not exist")):
        with pytest.raises(LoadError, match=message):
            read_population(tmp_path / name)


# ---- the command line -------------------------------------------------------------------------------------
def test_load_replaces_only_the_pairs_the_file_carries_and_list_shows_them(fresh_settings, tmp_path):
    env = _env(fresh_settings)

    def listed() -> dict[tuple[str, int], dict]:
        p = run("population", "list", "--json", env=env)
        assert p.returncode == 0, p.stderr
        return {(r["region"], r["year"]): r for r in map(json.loads, p.stdout.splitlines())}

    p = run("population", "load", str(_csv(tmp_path / "a.csv", GOOD, "gbk")), env=env)
    assert p.returncode == 0 and "loaded a.csv: 2 rows (2 regions; 2023)" in p.stdout, p.stderr
    before = listed()
    assert (before["990121", 2023]["resident"], before["990121", 2023]["urban"], before["990121", 2023]["rural"],
            before["990121", 2023]["source"]) == (800000, 300000, 500000, "示范市统计年鉴2024")
    # a second file: one pair again (replaced), one new pair (added); every other row stays as it was
    p = run("population", "load", str(_csv(tmp_path / "b.csv", ["990121,东岭县,2023,810000,310000,修订",
                                                                 "990122,西川县,2019,500000,200000,普查"])), env=env)
    assert p.returncode == 0, p.stderr
    after = listed()
    assert set(after) == set(before) | {("990122", 2019)}
    assert {k for k in before if after[k] != before[k]} == {("990121", 2023)}
    assert (after["990121", 2023]["resident"], after["990121", 2023]["source"]) == (810000, "修订")
    shown = run("population", "list", "--region", "990121", "--year", "2023", env=env).stdout
    assert "东岭县" in shown and "东岭镇" in shown and "990122" not in shown and "2019" not in shown
    # the loads are in the audit trail, as every change made on the command line
    audit = run("audit", "export", env=env).stdout
    assert '"action": "population.load"' in audit and '"target": "b.csv"' in audit
    # a refused file: one sentence naming the row, nothing written
    bad = one_sentence_error(run("population", "load", str(_csv(tmp_path / "bad.csv", [GOOD[0], BAD_ROWS[-3][0]])),
                                 env=env))
    assert "row 3 (990121): CZCZRK 150 is more than CZRK 100" in bad
    assert listed() == after
    # a row loaded under a wrong code goes again
    p = run("population", "delete", "--region", "990122", "--year", "2019", env=env)
    assert p.returncode == 0 and "1 row of 990122 in 2019 deleted" in p.stdout, p.stderr
    assert listed() == before | {("990121", 2023): after["990121", 2023]}


def test_usage_mistakes_are_one_sentence(fresh_settings, tmp_path):
    env = _env(fresh_settings)
    one_sentence_error(run("population", "load", env=env))
    one_sentence_error(run("population", "list", "--region", "12ab", env=env))
    one_sentence_error(run("population", "delete", env=env))
    one_sentence_error(run("population", "list", "--year", "twenty", env=env))


# ---- the per-capita rules ---------------------------------------------------------------------------------
def _value(client, code: str, region: str, day: str = DAY) -> dict:
    (v,) = get_json(client, f"/indicators/{code}?region={region}&datetime={day}")["values"]
    return v


def test_the_year_falls_back_and_a_region_without_a_row_takes_its_sub_regions_sum(fresh_settings, store):
    from onemap.server.app import create_app

    from .auth import admin_client

    client = admin_client(create_app(fresh_settings))
    rows = {(r.region, r.year): r for r in store.population()}
    towns = sorted(r for r, y in rows if y == 2023 and len(r) == 9 and r.startswith("990121"))
    base = _value(client, "RJCZJSYDMJ", "990121")
    # the date's year (2024) is not held: the latest earlier year, 2023, said in the value and its note
    assert (base["population_year"], base["population"], base["population_from"]) == \
        (2023, rows["990121", 2023].urban, "region")
    assert "2023, the latest year held up to 2024" in base["note"]
    land = base["value"] * base["population"]  # the numerator, the same in every scenario below
    exact = _value(client, "RJCZJSYDMJ", "990121", "2022-06-01")
    assert (exact["population_year"], exact["population"], exact["note"]) == (2022, rows["990121", 2022].urban, None)

    # no county row for 2023: the sum of its townships' of 2023
    assert store.delete_population("990121", 2023) == 1
    summed = _value(client, "RJCZJSYDMJ", "990121")
    want = sum(rows[t, 2023].urban for t in towns)
    assert (summed["population_year"], summed["population"], summed["population_from"]) == (2023, want, "children")
    assert summed["value"] == pytest.approx(land / want, rel=1e-6) and "sum of the regions under it" in summed["note"]
    rural = _value(client, "RJCZHJSYDMJ", "990121")
    assert rural["population"] == sum(rows[t, 2023].rural for t in towns)

    # one township missing too: 2023 is not complete, the county's own row of 2022 is used
    store.delete_population(towns[0], 2023)
    stale = _value(client, "RJCZJSYDMJ", "990121")
    assert (stale["population_year"], stale["population"], stale["population_from"]) == \
        (2022, rows["990121", 2022].urban, "region")
    assert stale["value"] == pytest.approx(land / rows["990121", 2022].urban, rel=1e-6)

    # nothing of the county, one township without any year: null, status none, and why
    store.delete_population("990121")
    store.delete_population(towns[0])
    none = _value(client, "RJCZJSYDMJ", "990121")
    assert none["value"] is None and none["status"] == "none" and none["gap"] is None
    assert none["population_year"] is None and none["population"] is None
    assert "no 城镇常住人口 of 990121 (东岭县) for 2024 or an earlier year" in none["note"]
    # the other counties keep their own rows
    assert _value(client, "RJCZJSYDMJ", "990122")["population_from"] == "region"
