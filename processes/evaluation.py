"""Evaluation reports (分析评价): 现状评估, 实施评估 and 城市体检评估 from the indicators of the one map.

Each is an OGC API process returning JSON, a printable HTML report and an XLSX workbook, and is kept for good
as a review certificate (``processes/certificates.py``). The values are the indicator service's
(``providers/indicators.py``), the very values ``/indicators/{code}`` answers: the survey in force on a
date against the targets the nearest upper master plan in force sets for the region.

- ``status-evaluation`` (现状评估): a region on a date: every indicator of its level with value, target, gap
  and status (达标/预警/超标/无目标), the counts per status, the surveys and the plans used, and what the
  indicator model cannot compute.
- ``implementation-evaluation`` (实施评估): a region between two survey years: each indicator in both, the
  change, and whether it moves toward or away from the target of the plan in force at the later date; the
  period of that plan and the share of it elapsed.
- ``city-health-check`` (城市体检评估): a city and a survey year: the city's indicators and those of each of
  its counties and districts, a summary of statuses by county, and the TD/T 1063-2021 indicators the one map
  cannot compute (config/reference/indicators_reference.csv).

A caller sees only the indicators whose layers it may read (``providers.indicators.readable``, as
``/indicators``). The evaluations read the registry and the population table as they stand (the indicator values
are cached per registry and population version, which the result names): a certificate's ``rerun`` repeats the
question, and gives the same answer while both versions are the same. A per-capita row names the population year
it divided by, and says so in its note when that is not the evaluated year.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from onemap.config.errors import InvalidInput, NotFound
from onemap.config.indicators import INDICATORS_PATH, get_indicators
from onemap.config.settings import PACKAGE_DIR, Settings
from onemap.domain.dates import When
from onemap.domain.plans import Plan
from onemap.domain.regions import region_covers
from onemap.providers.indicators import STATUS, IndicatorService, readable, shared_service
from onemap.providers.regions import Region, Regions
from onemap.providers.store import Store, get_store

from .base import OneMapProcessor, Output, RunContext, input_date
from .certificates import archive, file_hashes, pinned_recorded, plan_entry, reference

REFERENCE_PATH = PACKAGE_DIR / "reference" / "indicators_reference.csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUSES = ("ok", "warning", "breach", "none")
REGION_SCHEMA = {"type": "string", "pattern": r"^[0-9]{6}([0-9]{3})?$"}
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
YEAR_SCHEMA = {"type": "string", "pattern": r"^\d{4}$"}
# a master plan's title states its period the national way: 示范市国土空间总体规划（2021—2035年）
PERIOD_IN_TITLE = re.compile(r"[（(]\s*(\d{4})\s*[—–\-~至]+\s*(\d{4})\s*年?\s*[）)]")
DIRECTION = {"toward": {"zh": "趋近目标", "en": "toward the target"},
             "away": {"zh": "偏离目标", "en": "away from the target"},
             "unchanged": {"zh": "无变化", "en": "unchanged"},
             "none": {"zh": "无目标或无值", "en": "no target or no value"}}



# ---- inputs ------------------------------------------------------------------------------------------------

def _region(store: Store, code: str, day: dt.date, name: str = "region") -> Region:
    """The region in the survey in force on ``day`` (404 when that survey has none)."""
    try:
        return Regions(store, day).get(code)
    except NotFound:
        raise NotFound(f"input {name!r}: no region {code} in the survey in force on {day.isoformat()}") from None


def _survey_year(svc: IndicatorService, year: str | None, name: str, default: int) -> tuple[str, dt.date]:
    """A survey year held and the date it came into force (400 for a year not held)."""
    held = svc.survey_dates()
    if not held:
        raise NotFound("no land survey is held: there is nothing to evaluate")
    if year is None:
        return held[default]
    found = dict(held).get(year)
    if found is None:
        raise InvalidInput(f"input {name!r}: no survey of {year} is held; the survey years held are "
                           f"{', '.join(y for y, _ in held)}")
    return year, found


def _city_code(code: str) -> str:
    if not (len(code) == 6 and code.endswith("00") and not code.endswith("0000")):
        raise InvalidInput(f"input 'city': {code} is not a city's code (six digits ending 00, not 0000)")
    return code


# ---- what a run reads --------------------------------------------------------------------------------------
def _readable_codes(ctx: RunContext, svc: IndicatorService) -> set[str]:
    cat = ctx.store.catalogue
    return {d.code for d in svc.ind.indicators if readable(d, cat, ctx.reaches)}


def _values(ctx: RunContext, svc: IndicatorService, region: Region, day: dt.date) -> list[dict[str, Any]]:
    """Every indicator of the region's level the caller may read, as ``/indicators/{code}`` gives it."""
    codes = _readable_codes(ctx, svc)
    return [v for v in svc.evaluate(region, day) if v["code"] in codes]


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    c = Counter(r["status"] for r in rows)
    return {s: c.get(s, 0) for s in STATUSES} | {"total": len(rows)}


def plan_info(p: Plan) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "region": p.region, "level": p.level, "type": p.type,
            "version": p.version, "status": p.status, "approval_no": p.approval_no,
            "valid_from": p.valid_from.isoformat() if p.valid_from else None,
            "valid_to": p.valid_to.isoformat() if p.valid_to else None}


def _surveys(store: Store, region: str, day: dt.date) -> list[Plan]:
    """The land surveys in force on ``day`` whose drawers cover the region or lie within it."""
    dltb = store.catalogue.layers.get("dltb")
    plans = store.plans()
    ids = store.plans_in_force(When.at(day), layer=dltb) if dltb is not None else ()
    return sorted((plans[i] for i in ids if i in plans and plans[i].type == "survey"
                   and (region_covers(plans[i].region, region) or region_covers(region, plans[i].region))),
                  key=lambda p: p.id)


def _survey_info(surveys: list[Plan]) -> dict[str, Any]:
    return {"versions": sorted({p.version for p in surveys}), "plans": [plan_info(p) for p in surveys]}


def _not_computed(svc: IndicatorService) -> list[dict[str, str]]:
    return [dict(n) for n in svc.ind.not_computed]


def _row(v: dict[str, Any]) -> dict[str, Any]:
    """An indicator value as the reports list it (the status label in both languages; a per-capita value's
    population year and note)."""
    out = {k: v[k] for k in ("code", "name", "name_en", "unit", "binding", "kind", "value", "target",
                             "target_plan", "gap", "status", "status_label")}
    return out | {k: v[k] for k in ("population_year", "note") if k in v}


# ---- 现状评估 ----------------------------------------------------------------------------------------------
def status_evaluation(ctx: RunContext, region_code: str, day: dt.date) -> dict[str, Any]:
    store, svc = ctx.store, shared_service(ctx.store)
    ctx.progress(5, "finding the region")
    region = _region(store, region_code, day)
    ctx.progress(20, "evaluating the indicators")
    rows = [_row(v) for v in _values(ctx, svc, region, day)]
    uppers = svc.upper_plans(region.code, day)
    used = sorted({r["target_plan"] for r in rows if r["target_plan"]})
    by_id = {p.id: p for p in uppers}
    return {
        "process": "status-evaluation",
        "date": day.isoformat(),
        "region": {"code": region.code, "name": region.name, "level": region.level},
        "registry_version": store._current_version(),
        "population_version": store.population_version(),
        "survey": _survey_info(_surveys(store, region.code, day)),
        "upper_plan": plan_info(uppers[0]) if uppers else None,
        "target_plans": [plan_info(by_id[i]) if i in by_id else {"id": i} for i in used],
        "indicators": rows,
        "counts": _counts(rows),
        "without_target": [{"code": r["code"], "name": r["name"]} for r in rows if r["status"] == "none"],
        "not_computed": _not_computed(svc),
    }


# ---- 实施评估 ----------------------------------------------------------------------------------------------
def plan_period(plan: Plan, day: dt.date) -> dict[str, Any]:
    """A master plan's period and the share of it elapsed on ``day``. The registry has no field for the
    planning horizon: it is read from the title, where a 国土空间总体规划 states it (（2021—2035年）); without
    one, the period is not known and nothing is said of its share."""
    out: dict[str, Any] = {"valid_from": plan.valid_from.isoformat() if plan.valid_from else None,
                           "start": None, "end": None, "horizon_year": None, "source": None, "elapsed_share": None}
    m = PERIOD_IN_TITLE.search(plan.title or "")
    if m is None or int(m.group(2)) <= int(m.group(1)):
        return out
    start, end = dt.date(int(m.group(1)), 1, 1), dt.date(int(m.group(2)), 12, 31)
    share = (day - start).days / (end - start).days
    return out | {"start": start.isoformat(), "end": end.isoformat(), "horizon_year": int(m.group(2)),
                  "source": "title", "elapsed_share": round(share, 4)}


def _direction(v1: float | None, v2: float | None, target: float | None) -> str:
    if v1 is None or v2 is None or target is None:
        return "none"
    before, after = abs(v1 - target), abs(v2 - target)
    if abs(after - before) < 1e-9:
        return "unchanged"
    return "toward" if after < before else "away"


def _two_years(svc: IndicatorService, from_year: str | None, to_year: str | None
               ) -> tuple[tuple[str, dt.date], tuple[str, dt.date]]:
    """The two survey years compared, the earlier first (400 unless ``from_year`` comes before ``to_year``)."""
    y1, d1 = _survey_year(svc, from_year, "from_year", 0)
    y2, d2 = _survey_year(svc, to_year, "to_year", -1)
    if d1 >= d2:
        raise InvalidInput(f"the earlier survey year (from_year {y1}) must come before the later one "
                           f"(to_year {y2}); the survey years held are {', '.join(y for y, _ in svc.survey_dates())}")
    return (y1, d1), (y2, d2)


def implementation_evaluation(ctx: RunContext, region_code: str, from_year: str | None,
                              to_year: str | None) -> dict[str, Any]:
    store, svc = ctx.store, shared_service(ctx.store)
    ctx.progress(5, "finding the surveys")
    (y1, d1), (y2, d2) = _two_years(svc, from_year, to_year)
    r1 = _region(store, region_code, d1)
    r2 = _region(store, region_code, d2)
    ctx.progress(20, f"evaluating {y1}")
    codes = _readable_codes(ctx, svc)
    first = {v["code"]: v for v in svc.evaluate(r1, d1) if v["code"] in codes}
    ctx.progress(55, f"evaluating {y2}")
    second = [v for v in svc.evaluate(r2, d2) if v["code"] in codes]
    rows = []
    for b in second:
        a = first.get(b["code"])
        v1 = a["value"] if a else None
        v2 = b["value"]
        change = None if v1 is None or v2 is None else round(v2 - v1, 4)
        pct = None if change is None or not v1 else round(change / v1 * 100, 4)
        target = b["target"]
        gap1 = None if target is None or v1 is None else round((v1 - target) if b["kind"] == "min" else (target - v1), 4)
        direction = _direction(v1, v2, target)
        rows.append({"code": b["code"], "name": b["name"], "name_en": b["name_en"], "unit": b["unit"],
                     "binding": b["binding"], "kind": b["kind"], "value_from": v1, "value_to": v2,
                     "change": change, "change_pct": pct, "target": target, "target_plan": b["target_plan"],
                     "gap_from": gap1, "gap_to": b["gap"], "status_to": b["status"],
                     "status_label": b["status_label"], "direction": direction,
                     "direction_label": DIRECTION[direction]})
    uppers = svc.upper_plans(r2.code, d2)
    used = Counter(r["target_plan"] for r in rows if r["target_plan"])
    plan = next((p for p in uppers if used and p.id == used.most_common(1)[0][0]), uppers[0] if uppers else None)
    c = Counter(r["direction"] for r in rows)
    return {
        "process": "implementation-evaluation",
        "region": {"code": r2.code, "name": r2.name, "level": r2.level},
        "registry_version": store._current_version(),
        "population_version": store.population_version(),
        "from": {"year": y1, "date": d1.isoformat(), "survey": _survey_info(_surveys(store, r1.code, d1))},
        "to": {"year": y2, "date": d2.isoformat(), "survey": _survey_info(_surveys(store, r2.code, d2))},
        "plan": (plan_info(plan) | {"period": plan_period(plan, d2)}) if plan is not None else None,
        "indicators": rows,
        "counts": {k: c.get(k, 0) for k in DIRECTION} | {"total": len(rows)},
        "not_computed": _not_computed(svc),
    }


# ---- 城市体检评估 ------------------------------------------------------------------------------------------
def tdt1063_not_computable(path: Path = REFERENCE_PATH) -> list[dict[str, str]]:
    """The TD/T 1063-2021 indicators of the reference that need data the one map does not hold (those that
    need the survey and a population table, but the ones config/indicators.yaml computes)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    computed = {d.title["zh"] for d in get_indicators().indicators}
    out = []
    for r in rows:
        if r["computable_from"] == "survey+population" and r["name_zh"] in computed:
            continue
        if r["list"].startswith("td_t_1063_2021_") and r["computable_from"] in ("external", "survey+population"):
            out.append({"list": "基本" if r["list"].endswith("basic") else "推荐",
                        "list_en": "basic" if r["list"].endswith("basic") else "recommended",
                        "code": r["code_in_source"], "name": r["name_zh"], "name_en": r["name_en"],
                        "unit": r["unit"], "category": r["category"], "needs": r["computable_from"],
                        "hint": r["formula_hint"], "confidence": r["confidence"]})
    return out


TDT1063_NOTE = {"zh": "基本/推荐指标的划分来自记忆，未经标准原文核对，置信度低（LOW），见 config/reference/INDICATORS.md。",
                "en": "The basic/recommended split is from memory, not checked against the standard's text: LOW "
                      "confidence (config/reference/INDICATORS.md)."}


def _summary_row(code: str, name: str, level: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "name": name, "level": level}
    return out | _counts(rows)


def city_health_check(ctx: RunContext, city_code: str, year: str | None) -> dict[str, Any]:
    store, svc = ctx.store, shared_service(ctx.store)
    y, day = _survey_year(svc, year, "year", -1)
    city = _region(store, _city_code(city_code), day, "city")
    if city.level != "city":
        raise InvalidInput(f"input 'city': {city_code} is a {city.level} in the survey, not a city")
    ctx.progress(10, "evaluating the city")
    own = [_row(v) for v in _values(ctx, svc, city, day)]
    counties = Regions(store, day).at_level("county", city.code)
    parts: list[dict[str, Any]] = []
    for i, county in enumerate(counties):
        ctx.progress(20 + 70 * i // max(len(counties), 1), f"evaluating {county.name}")
        rows = [_row(v) for v in _values(ctx, svc, county, day)]
        parts.append({"code": county.code, "name": county.name, "level": county.level,
                      "indicators": rows, "counts": _counts(rows)})
    uppers = svc.upper_plans(city.code, day)
    return {
        "process": "city-health-check",
        "year": y,
        "date": day.isoformat(),
        "city": {"code": city.code, "name": city.name, "level": city.level},
        "registry_version": store._current_version(),
        "population_version": store.population_version(),
        "survey": _survey_info(_surveys(store, city.code, day)),
        "upper_plan": plan_info(uppers[0]) if uppers else None,
        "indicators": own,
        "counts": _counts(own),
        "counties": parts,
        "summary": [_summary_row(city.code, city.name, city.level, own)]
                   + [_summary_row(p["code"], p["name"], p["level"], p["indicators"]) for p in parts],
        "not_computed": _not_computed(svc),
        "tdt1063_not_computable": {"indicators": tdt1063_not_computable(), "note": TDT1063_NOTE},
    }


# ---- reports -----------------------------------------------------------------------------------------------
TEMPLATES = {"status-evaluation": "status_evaluation_report.html",
             "implementation-evaluation": "implementation_evaluation_report.html",
             "city-health-check": "city_health_check_report.html"}


def evaluation_html(result: dict[str, Any]) -> str:
    """The printable report of an evaluation result (offline: nothing it shows is fetched)."""
    from .report import _env

    return _env.get_template(TEMPLATES[result["process"]]).render(
        r=result, status=STATUS, generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def _sheet(wb: Any, title: str, header: list[str], rows: list[list[Any]]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(r)
    ws.freeze_panes = "A2"
    for col in ws.columns:
        width = max(len(str(c.value or "")) for c in col)
        ws.column_dimensions[col[0].column_letter].width = min(max(10, width * 1.6), 60)


IND_HEADER = ["指标代码 Code", "指标名称 Indicator", "单位 Unit", "约束性 Binding", "方向 Kind", "现状值 Value",
              "目标值 Target", "差距 Gap", "状态 Status", "目标来源 Target plan", "人口年份 Population year",
              "说明 Note"]


def _ind_rows(rows: list[dict[str, Any]], prefix: list[Any] | None = None) -> list[list[Any]]:
    return [(prefix or []) + [r["code"], r["name"], r["unit"], r["binding"], r["kind"], r["value"], r["target"],
                              r["gap"], r["status_label"]["zh"], r["target_plan"], r.get("population_year"),
                              r.get("note")] for r in rows]


def _count_rows(counts: dict[str, int]) -> list[list[Any]]:
    return [[STATUS[s]["zh"] + " " + STATUS[s]["en"], counts[s]] for s in STATUSES] + [["合计 total", counts["total"]]]


def evaluation_xlsx(result: dict[str, Any]) -> bytes:
    """The result as an XLSX workbook (numbers as numbers), one sheet per table of the report."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    p = result["process"]
    nc = [[n.get("name"), n.get("needs")] for n in result["not_computed"]]
    if p == "status-evaluation":
        reg = result["region"]
        _sheet(wb, "概况 Summary", ["项 Item", "值 Value"], [
            ["评估 Evaluation", "现状评估 status evaluation"], ["行政区 Region", f"{reg['code']} {reg['name']}"],
            ["评估日期 Date", result["date"]], ["调查版本 Survey", ", ".join(result["survey"]["versions"])],
            ["目标来源 Targets from", ", ".join(t["id"] for t in result["target_plans"])],
            ["证书 Certificate", result.get("certificate", {}).get("href")]])
        _sheet(wb, "指标 Indicators", IND_HEADER, _ind_rows(result["indicators"]))
        _sheet(wb, "状态统计 Counts", ["状态 Status", "个数 Count"], _count_rows(result["counts"]))
    elif p == "implementation-evaluation":
        plan = result["plan"] or {}
        period = plan.get("period") or {}
        _sheet(wb, "概况 Summary", ["项 Item", "值 Value"], [
            ["评估 Evaluation", "实施评估 implementation evaluation"],
            ["行政区 Region", f"{result['region']['code']} {result['region']['name']}"],
            ["基期 From", f"{result['from']['year']} ({result['from']['date']})"],
            ["末期 To", f"{result['to']['year']} ({result['to']['date']})"],
            ["规划 Plan", plan.get("id")], ["规划期 Period", f"{period.get('start')} – {period.get('end')}"],
            ["期限已过 Share elapsed", period.get("elapsed_share")],
            ["证书 Certificate", result.get("certificate", {}).get("href")]])
        _sheet(wb, "变化 Change", ["指标代码 Code", "指标名称 Indicator", "单位 Unit", f"{result['from']['year']}",
                                   f"{result['to']['year']}", "变化 Change", "变化率% Change %", "目标值 Target",
                                   "趋势 Direction", "状态 Status"],
               [[r["code"], r["name"], r["unit"], r["value_from"], r["value_to"], r["change"], r["change_pct"],
                 r["target"], r["direction_label"]["zh"], r["status_label"]["zh"]] for r in result["indicators"]])
    else:
        city = result["city"]
        _sheet(wb, "概况 Summary", ["项 Item", "值 Value"], [
            ["评估 Evaluation", "城市体检评估 city health check"], ["城市 City", f"{city['code']} {city['name']}"],
            ["年度 Year", result["year"]], ["评估日期 Date", result["date"]],
            ["证书 Certificate", result.get("certificate", {}).get("href")]])
        _sheet(wb, "汇总 By county", ["行政区代码 Code", "名称 Name", "达标 ok", "预警 warning", "超标 breach",
                                      "无目标 none", "合计 total"],
               [[s["code"], s["name"], s["ok"], s["warning"], s["breach"], s["none"], s["total"]]
                for s in result["summary"]])
        rows = _ind_rows(result["indicators"], [city["code"], city["name"]])
        for c in result["counties"]:
            rows += _ind_rows(c["indicators"], [c["code"], c["name"]])
        _sheet(wb, "指标 Indicators", ["行政区代码 Region", "名称 Name", *IND_HEADER], rows)
        _sheet(wb, "TDT1063 未能计算", ["类别 List", "序号 No.", "指标 Indicator", "单位 Unit", "所需数据 Needs",
                                      "置信度 Confidence"],
               [[t["list"], t["code"], t["name"], t["unit"], t["needs"], t["confidence"]]
                for t in result["tdt1063_not_computable"]["indicators"]]
               + [[], [result["tdt1063_not_computable"]["note"]["zh"]]])
    _sheet(wb, "未计算 Not computed", ["指标 Indicator", "所需数据 Needs"], nc)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- the processes -----------------------------------------------------------------------------------------
def _outputs(title_zh: str, title_en: str) -> dict[str, Any]:
    return {
        "result": {"title": f"{title_zh}结果 / {title_en} result",
                   "schema": {"type": "object", "contentMediaType": "application/json"}},
        "report": {"title": f"{title_zh}报告（可打印） / Printable report",
                   "schema": {"type": "string", "contentMediaType": "text/html"}, "default": False},
        "workbook": {"title": f"{title_zh}表（XLSX） / Workbook",
                     "schema": {"type": "string", "contentEncoding": "binary", "contentMediaType": XLSX},
                     "default": False},
    }


class _Evaluation(OneMapProcessor):
    """What the three evaluations share: the outputs, the certificate."""

    def __init__(self, processor_def: dict, process_metadata: dict | None = None) -> None:
        super().__init__(processor_def, process_metadata)
        get_indicators()  # a broken indicator file stops the server at start-up, not a request later

    def evaluate(self, ctx: RunContext, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def pinned(self, inputs: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """The inputs a rerun takes: those given, with the defaults the run chose written out."""
        return dict(inputs)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        recorded = pinned_recorded(None, ctx.settings.timezone)
        result = self.evaluate(ctx, inputs)
        ref = result["certificate"] = reference(ctx, self.id)
        ctx.progress(92, "writing the report")
        html = evaluation_html(result)
        plans = ctx.store.plans()
        used: dict[str, str] = {}
        for part in ("survey", "from", "to"):
            block = result.get(part) or {}
            for p in (block.get("survey") or block).get("plans", []):
                used[p["id"]] = "survey"
        for key in ("upper_plan", "plan"):
            if result.get(key):
                used.setdefault(result[key]["id"], "upper")
        for p in result.get("target_plans", []):
            used.setdefault(p["id"], "upper")
        rules = [INDICATORS_PATH] + ([REFERENCE_PATH] if self.id == "city-health-check" else [])
        date = result["date"] if "date" in self.metadata["inputs"] else None
        archive(ctx, ref, self.id, self.pinned(inputs, result), date=date, recorded=recorded,
                plans=[plan_entry(plans[pid], role) for pid, role in used.items() if pid in plans],
                rules=file_hashes(rules), result=result, html=html, pins_registry=False)
        out: dict[str, Output] = {}
        if "result" in outputs:
            out["result"] = Output("application/json", result)
        if "report" in outputs:
            out["report"] = Output("text/html", html)
        if "workbook" in outputs:
            out["workbook"] = Output(XLSX, evaluation_xlsx(result))
        return out


class StatusEvaluationProcessor(_Evaluation):
    """现状评估 / status evaluation of a region on a date."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "status-evaluation",
        "title": {"zh": "现状评估", "en": "Status evaluation"},
        "description": {
            "zh": "以评估日现行的国土调查对照上位规划下达的指标目标：逐项给出现状值、目标值、差距和状态（达标、预警、"
                  "超标、无目标），各状态的个数，所用的调查版本和下达目标的规划，以及指标模型中需要未掌握数据的指标。",
            "en": "The survey in force on a date against the targets the governing upper plan sets for the region: "
                  "each indicator of the region's level with value, target, gap and status, the count per status, "
                  "the survey version and the plan the targets come from, and the indicators that need data not held.",
        },
        "keywords": ["现状评估", "status evaluation", "指标", "实施监督"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "region": {"title": "行政区 / Region", "description": "Administrative division code (6 or 9 digits).",
                       "schema": REGION_SCHEMA, "minOccurs": 1, "maxOccurs": 1},
            "date": {"title": "评估日期 / Date", "description": "Evaluate on this date (YYYY-MM-DD); today by default.",
                     "schema": DATE_SCHEMA, "minOccurs": 0, "maxOccurs": 1},
        },
        "outputs": _outputs("现状评估", "Status evaluation"),
        "example": {"inputs": {"region": "990121", "date": "2024-01-01"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        _region(store or get_store(settings.store_url), inputs["region"], input_date(inputs, settings))

    def evaluate(self, ctx: RunContext, inputs: dict[str, Any]) -> dict[str, Any]:
        return status_evaluation(ctx, inputs["region"], input_date(inputs, ctx.settings))


class ImplementationEvaluationProcessor(_Evaluation):
    """实施评估 / implementation evaluation between two survey years."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "implementation-evaluation",
        "title": {"zh": "实施评估", "en": "Implementation evaluation"},
        "description": {
            "zh": "两个调查年度之间各项指标的变化（绝对值和百分比），对照较晚年度现行规划下达的目标判断变化趋近还是偏离"
                  "目标；给出该规划的期限（规划标题中的规划期）和已过去的比例。",
            "en": "Each indicator in two survey years, the change (absolute and per cent) and, against the target of "
                  "the plan in force at the later date, whether it moves toward or away from it; the plan's period "
                  "(as its title states it) and the share of it elapsed.",
        },
        "keywords": ["实施评估", "implementation evaluation", "指标", "实施监督"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "region": {"title": "行政区 / Region", "description": "Administrative division code (6 or 9 digits).",
                       "schema": REGION_SCHEMA, "minOccurs": 1, "maxOccurs": 1},
            "from_year": {"title": "基期调查年度 / Earlier survey year",
                          "description": "A survey year held (the first by default).",
                          "schema": YEAR_SCHEMA, "minOccurs": 0, "maxOccurs": 1},
            "to_year": {"title": "末期调查年度 / Later survey year",
                        "description": "A survey year held (the last by default).",
                        "schema": YEAR_SCHEMA, "minOccurs": 0, "maxOccurs": 1},
        },
        "outputs": _outputs("实施评估", "Implementation evaluation"),
        "example": {"inputs": {"region": "990121"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        svc = shared_service(store or get_store(settings.store_url))
        for _, day in _two_years(svc, inputs.get("from_year"), inputs.get("to_year")):
            _region(svc.store, inputs["region"], day)

    def evaluate(self, ctx: RunContext, inputs: dict[str, Any]) -> dict[str, Any]:
        return implementation_evaluation(ctx, inputs["region"], inputs.get("from_year"), inputs.get("to_year"))

    def pinned(self, inputs: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        return dict(inputs) | {"from_year": result["from"]["year"], "to_year": result["to"]["year"]}


class CityHealthCheckProcessor(_Evaluation):
    """城市体检评估 / city health check of a city and its counties for a survey year."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "city-health-check",
        "title": {"zh": "城市体检评估", "en": "City health check"},
        "description": {
            "zh": "一个城市某调查年度的体检评估：市级指标及其各县（市、区）的指标（各按本级），各县状态汇总表，以及"
                  "《国土空间规划城市体检评估规程》（TD/T 1063-2021）中一张图无法计算的指标。",
            "en": "A city in a survey year: the city's indicators and those of each of its counties and districts "
                  "(each level's own), a summary of statuses by county, and the TD/T 1063-2021 indicators the one map "
                  "cannot compute.",
        },
        "keywords": ["城市体检", "city health check", "TD/T 1063-2021", "实施监督"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "city": {"title": "城市 / City", "description": "The city's division code (6 digits ending 00).",
                     "schema": {"type": "string", "pattern": r"^[0-9]{6}$"}, "minOccurs": 1, "maxOccurs": 1},
            "year": {"title": "调查年度 / Survey year",
                     "description": "A survey year held (the last by default); evaluated on the date that survey "
                                    "came into force, as /indicators/{code} gives its time series.",
                     "schema": YEAR_SCHEMA, "minOccurs": 0, "maxOccurs": 1},
        },
        "outputs": _outputs("城市体检评估", "City health check"),
        "example": {"inputs": {"city": "990100", "year": "2023"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        svc = shared_service(store or get_store(settings.store_url))
        _, day = _survey_year(svc, inputs.get("year"), "year", -1)
        city = _region(svc.store, _city_code(inputs["city"]), day, "city")
        if city.level != "city":
            raise InvalidInput(f"input 'city': {city.code} is a {city.level} in the survey, not a city")

    def evaluate(self, ctx: RunContext, inputs: dict[str, Any]) -> dict[str, Any]:
        return city_health_check(ctx, inputs["city"], inputs.get("year"))

    def pinned(self, inputs: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        return dict(inputs) | {"year": result["year"]}
