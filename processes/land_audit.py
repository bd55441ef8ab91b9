"""land-audit (土地全生命周期): 批而未供, 供而未用 and 闲置土地 of a region on a date, as warnings too.

The rules are data (config/land_audit.yaml, with their sources): an approval (``ydsp``) older than the rules'
age whose parcels no supply (``tdgy`` citing its 批准文号) covers is 批而未供, for the part not covered; a
supply whose agreed start date (YDDGRQ) has passed without a start is 供而未用, and once a full year has
passed 闲置 (《闲置土地处置办法》第二条第一款), as is a started project stopped a full year with less than a
third of its land developed or a quarter of its investment made (第二条第二款). Every finding cites its
records (feature ids, drawer entries, 批准文号 or 合同编号), the dates the rule used and how long over, with
geodesic areas on CGCS2000 in m², 公顷 and 亩.

The records are those of the management entries in force on the date (type ``management``: every entry's
records hold together); a later entry's record of the same approval or contract replaces an earlier one's,
and a record dated after the date (an approval, a contract, a start) does not exist yet on it.

Findings feed the warnings (kind ``land``, one per record and category): ``feed_warnings`` raises each, and
closes the live ones in the audit's scope that no longer hold. ``WarningScanner.scan`` runs the audit for the
whole map on its date.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import shapely

from onemap.config.errors import Conflict, InvalidParameterValue, NotFound
from onemap.config.land_audit import CATEGORIES, LandAuditRules, get_land_audit_rules, years_after
from onemap.config.settings import Settings
from onemap.config.warnings import WarningRules, get_warning_rules
from onemap.domain.dates import When
from onemap.domain.governing import areal
from onemap.domain.regions import region_prefix
from onemap.providers.geometry import area_units, as_multi, geodesic_area
from onemap.providers.regions import Regions
from onemap.providers.store import Store
from onemap.providers.store.warnings import WarningEvent

from .base import OneMapProcessor, Output, RunContext
from .compliance import CRS_INPUT, FORMAT_INPUT
from .statistics import REGION_RE, _boundary, parse_day

PROCESS_ID = "land-audit"
JSON_MEDIA = "application/json"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
APPROVALS, SUPPLIES = "ydsp", "tdgy"
APPROVAL_FIELDS = ("BSM", "XZQDM", "XZQMC", "XMMC", "PZWH", "PZRQ", "PZJG", "SPLX", "PZMJ", "TDYT", "TDYTMC")
SUPPLY_FIELDS = ("BSM", "XZQDM", "XZQMC", "XMMC", "HTBH", "GYFS", "QDRQ", "PZWH", "SRR", "GYMJ", "TDYT", "TDYTMC",
                 "YDDGRQ", "YDJGRQ", "SJDGRQ", "SJJGRQ", "ZZKFRQ", "YKFMJ", "YTZE", "ZTZE")


@dataclass
class Record:
    """One approval or contract: the features of the latest entry in force holding it (by PZWH or HTBH)."""

    layer: str
    key: str
    plan_id: str
    ids: list[int]
    props: dict[str, Any]
    geometry: shapely.Geometry

    def day(self, name: str) -> dt.date | None:
        v = self.props.get(name)
        if v is None or v == "":
            return None
        return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])

    def number(self, name: str) -> float | None:
        v = self.props.get(name)
        return None if v is None or v == "" else float(v)

    def cite(self) -> dict[str, Any]:
        """What a finding says of the record: where it is filed, its feature ids and its fields."""
        fields = APPROVAL_FIELDS if self.layer == APPROVALS else SUPPLY_FIELDS
        out: dict[str, Any] = {"layer": self.layer, "plan_id": self.plan_id, "ids": list(self.ids)}
        for name in fields:
            v = self.props.get(name)
            out[name] = v.isoformat() if isinstance(v, dt.date) else v
        return out


@dataclass
class Audit:
    """What one audit found: the findings by category, the records it read and the entries they came from."""

    day: dt.date
    area: dict[str, Any] | None
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})
    entries: list[str] = field(default_factory=list)
    evaluated: set[str] = field(default_factory=set)  # warning keys the audit decided (found or not)
    region: str | None = None  # the region audited (None: everywhere or a drawn area)
    whole: bool = False  # the whole map: every live land warning is in scope
    geometries: dict[str, shapely.Geometry] = field(default_factory=dict)  # warning key -> where

    def all(self) -> list[dict[str, Any]]:
        return [f for c in CATEGORIES for f in self.findings[c]]


def _latest_records(store: Store, layer_id: str, day: dt.date, key_field: str, fields: Iterable[str]
                    ) -> dict[str, Record]:
    """Every record of ``layer_id`` in the management entries in force on ``day``, the latest entry's per key."""
    layer = store.catalogue.layers[layer_id]
    plans = store.plans()
    ids = sorted(store.plans_in_force(When.at(day), None, layer),
                 key=lambda pid: (plans[pid].valid_from or dt.date.min, pid))
    out: dict[str, Record] = {}
    for pid in ids:
        if layer_id not in store.plan_layers(pid):
            continue
        geoms, cols = store.geometries(layer, [pid], columns=list(fields))
        mine: dict[str, Record] = {}
        for i, g in enumerate(geoms):
            key = str(cols[key_field][i] or "").strip()
            if not key:
                continue
            found = mine.get(key)
            if found is None:
                mine[key] = Record(layer_id, key, pid, [int(cols["fid"][i])],
                                   {n: cols[n][i] for n in fields}, g)
            else:
                found.ids.append(int(cols["fid"][i]))
                found.geometry = shapely.union(found.geometry, g)
        out.update(mine)  # a later entry's record of the same key replaces the earlier one's
    return out


def _in_scope(rec: Record, prefix: str | None, boundary: shapely.Geometry | None) -> bool:
    if prefix is not None and not str(rec.props.get("XZQDM") or "").startswith(prefix):
        return False
    return boundary is None or bool(shapely.intersects(rec.geometry, boundary))


def _m2(g: shapely.Geometry) -> float:
    return float(geodesic_area(g)) if g is not None and not g.is_empty else 0.0


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d is not None else None


def run_audit(store: Store, day: dt.date, rules: LandAuditRules, region: str | None = None,
              boundary: shapely.Geometry | None = None, area_doc: dict[str, Any] | None = None) -> Audit:
    """The findings on ``day`` within ``region`` (a code) or ``boundary`` (lon/lat), or everywhere."""
    prefix = region_prefix(region) if region else None
    audit = Audit(day, area_doc, region=region, whole=region is None and boundary is None)
    if APPROVALS not in store.catalogue.layers or SUPPLIES not in store.catalogue.layers:
        return audit
    approvals = _latest_records(store, APPROVALS, day, "PZWH", APPROVAL_FIELDS)
    supplies = _latest_records(store, SUPPLIES, day, "HTBH", SUPPLY_FIELDS)
    approvals = {k: r for k, r in approvals.items() if (r.day("PZRQ") or dt.date.max) <= day}
    supplies = {k: r for k, r in supplies.items() if (r.day("QDRQ") or dt.date.max) <= day}
    audit.entries = sorted({r.plan_id for r in [*approvals.values(), *supplies.values()]})
    by_approval: dict[str, list[Record]] = {}
    for s in supplies.values():
        if s.props.get("PZWH"):
            by_approval.setdefault(str(s.props["PZWH"]).strip(), []).append(s)
    for a in sorted(approvals.values(), key=lambda r: r.key):
        if _in_scope(a, prefix, boundary):
            _approval(audit, a, by_approval.get(a.key, []), rules)
    for s in sorted(supplies.values(), key=lambda r: r.key):
        if _in_scope(s, prefix, boundary):
            _supply(audit, s, rules)
    return audit


def _finding(audit: Audit, category: str, rec: Record, rules: LandAuditRules, dates: dict[str, Any],
             where: shapely.Geometry, m2: float, extra: dict[str, Any]) -> None:
    key = f"land:{category}:{rec.layer}:{rec.key}"
    name = rec.props.get("XMMC") or rec.key
    label = rules.title(category)
    number = "批准文号" if rec.layer == APPROVALS else "合同编号"
    audit.findings[category].append({
        "category": category, "category_label": label, "key": key,
        "region": rec.props.get("XZQDM"), "region_name": rec.props.get("XZQMC"),
        "title": {"zh": f"{name}（{number} {rec.key}）{label['zh']}",
                  "en": f"{name} ({rec.key}): {label.get('en', category).lower()}"},
        "record": rec.cite(), "dates": dates, "area": area_units(m2), **extra,
    })
    audit.geometries[key] = where


def _approval(audit: Audit, a: Record, supplies: list[Record], rules: LandAuditRules) -> None:
    r = rules.approved_not_supplied
    audit.evaluated.add(f"land:approved_not_supplied:{a.layer}:{a.key}")
    approved = a.day("PZRQ")
    if approved is None:
        return
    end = years_after(approved, r.after_years)
    if audit.day <= end and r.after_years > 0:
        return
    supplied = shapely.union_all(np.asarray([s.geometry for s in supplies], dtype=object)) if supplies else None
    rest = areal(a.geometry if supplied is None else shapely.difference(a.geometry, supplied))
    m2 = _m2(rest)
    if m2 <= r.min_m2:
        return
    dates = {"PZRQ": _iso(approved), "years": r.after_years, "period_end": _iso(end),
             "since": _iso(end + dt.timedelta(days=1)), "days_over": (audit.day - end).days,
             "age_days": (audit.day - approved).days}
    _finding(audit, "approved_not_supplied", a, rules, dates, as_multi(rest), m2, {
        "approved_area": area_units(_m2(a.geometry)),
        "supplied_area": area_units(_m2(areal(shapely.intersection(a.geometry, supplied))) if supplied else 0.0),
        "supplies": [s.cite() for s in sorted(supplies, key=lambda s: s.key)]})


def _supply(audit: Audit, s: Record, rules: LandAuditRules) -> None:
    day = audit.day
    for category in ("supplied_not_used", "idle"):
        audit.evaluated.add(f"land:{category}:{s.layer}:{s.key}")
    agreed, started = s.day("YDDGRQ"), s.day("SJDGRQ")
    completed = s.day("SJJGRQ")
    if agreed is None:
        return
    m2 = _m2(s.geometry)
    idle = rules.idle
    if started is None or started > day:  # not started on the day
        year_end = years_after(agreed, idle.not_started_years)
        if day > year_end:
            dates = {"YDDGRQ": _iso(agreed), "SJDGRQ": None, "years": idle.not_started_years,
                     "period_end": _iso(year_end), "since": _iso(year_end + dt.timedelta(days=1)),
                     "days_over": (day - year_end).days, "days_late": (day - agreed).days}
            _finding(audit, "idle", s, rules, dates, as_multi(s.geometry), m2,
                     {"clause": {"zh": "《闲置土地处置办法》第二条第一款：超过约定动工开发日期满一年未动工开发",
                                 "en": "Measures on idle land, art. 2 (1): not started a full year after the agreed "
                                       "start date"},
                      "consequence": idle.consequence})
        elif (day - agreed).days > rules.supplied_not_used.after_days:
            dates = {"YDDGRQ": _iso(agreed), "SJDGRQ": None, "since": _iso(agreed + dt.timedelta(days=1)),
                     "days_over": (day - agreed).days, "idle_from": _iso(year_end + dt.timedelta(days=1))}
            _finding(audit, "supplied_not_used", s, rules, dates, as_multi(s.geometry), m2, {})
        return
    stopped = s.day("ZZKFRQ")
    if stopped is None or stopped > day or (completed is not None and completed <= day):
        return
    stop_end = years_after(stopped, idle.stopped_years)
    if day <= stop_end:
        return
    area, developed = s.number("GYMJ"), s.number("YKFMJ")
    total, invested = s.number("ZTZE"), s.number("YTZE")
    dev_share = developed / area if developed is not None and area else None
    inv_share = invested / total if invested is not None and total else None
    if not ((dev_share is not None and dev_share < idle.developed_share_below)
            or (inv_share is not None and inv_share < idle.invested_share_below)):
        return
    dates = {"YDDGRQ": _iso(agreed), "SJDGRQ": _iso(started), "ZZKFRQ": _iso(stopped), "years": idle.stopped_years,
             "period_end": _iso(stop_end), "since": _iso(stop_end + dt.timedelta(days=1)),
             "days_over": (day - stop_end).days}
    _finding(audit, "idle", s, rules, dates, as_multi(s.geometry), m2, {
        "clause": {"zh": "《闲置土地处置办法》第二条第二款：已动工开发但开发面积不足三分之一或投资额不足百分之二十五，"
                         "中止开发建设满一年",
                   "en": "Measures on idle land, art. 2 (2): started, under a third developed or a quarter invested, "
                         "stopped a full year"},
        "developed_share": None if dev_share is None else round(dev_share, 4),
        "invested_share": None if inv_share is None else round(inv_share, 4),
        "consequence": idle.consequence})


# ---- warnings -----------------------------------------------------------------------------------------------
def feed_warnings(store: Store, audit: Audit, actor: str, rules: WarningRules | None = None) -> list[WarningEvent]:
    """Raise a ``land`` warning for every finding; close the live ones in the audit's scope that no longer hold."""
    rules = rules or get_warning_rules()
    ws = store.warnings
    events: list[WarningEvent] = []
    found = set()
    for f in audit.all():
        found.add(f["key"])
        detail = {k: v for k, v in f.items() if k not in ("title",)} | {"datetime": audit.day.isoformat()}
        _, event = ws.raise_(f["key"], "land", str(f["region"] or ""), rules.land.severity[f["category"]], f["title"],
                             detail, audit.geometries.get(f["key"]), actor, rules.rank)
        if event is not None:
            events.append(event)
    for w in _live(store, audit.region):
        if w.key in found:
            continue
        if not (audit.whole or audit.region is not None or w.key in audit.evaluated):
            continue
        note = f"{audit.day.isoformat()}: no longer found by the land audit"
        try:
            _, closed = ws.move(w.id, "closed", actor, note, expect=w.status)
        except Conflict:  # changed meanwhile (another audit closed it, someone acted on it)
            continue
        events.append(closed)
    return events


def _live(store: Store, region: str | None) -> list[Any]:
    """The open and acknowledged warnings of kind ``land`` (of a region and those under it)."""
    out = []
    for status in ("open", "acknowledged"):
        offset = 0
        while True:
            page, total = store.warnings.page(region=region, kind="land", status=status, limit=500, offset=offset)
            out += page
            offset += len(page)
            if not page or offset >= total:
                break
    return out


def audit_document(audit: Audit, rules_path: str, events: list[WarningEvent] | None) -> dict[str, Any]:
    """The answer: the question, the findings by category with counts and areas, what the warnings did."""
    counts = {}
    for c in CATEGORIES:
        m2 = sum(f["area"]["m2"] for f in audit.findings[c])
        counts[c] = {"count": len(audit.findings[c]), **area_units(m2)}
    doc: dict[str, Any] = {
        "date": audit.day.isoformat(), "area": audit.area, "rules": rules_path, "entries": audit.entries,
        "counts": counts,
        "findings": {c: [{**f, "geometry": shapely.geometry.mapping(audit.geometries[f["key"]])}
                         for f in audit.findings[c]] for c in CATEGORIES},
    }
    if events is not None:
        acts: dict[str, int] = {}
        for e in events:
            acts[e.action] = acts.get(e.action, 0) + 1
        doc["warnings"] = acts
    return doc


def to_xlsx(doc: dict[str, Any]) -> bytes:
    """The findings as a workbook: one row per finding (category, region, record, dates, areas), and the question."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "发现"
    head = ["类别", "行政区代码", "行政区名称", "项目名称", "批准文号/合同编号", "图层", "抽屉条目", "要素", "批准日期",
            "约定动工日期", "实际动工日期", "中止开发日期", "期满日期", "超期天数", "面积（平方米）", "面积（公顷）", "面积（亩）"]
    ws.append(head)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for c in CATEGORIES:
        for f in doc["findings"][c]:
            rec, d = f["record"], f["dates"]
            ws.append([f["category_label"]["zh"], f["region"], f["region_name"], rec.get("XMMC"),
                       rec.get("PZWH") if rec["layer"] == APPROVALS else rec.get("HTBH"), rec["layer"], rec["plan_id"],
                       ", ".join(str(i) for i in rec["ids"]), d.get("PZRQ"), d.get("YDDGRQ"), d.get("SJDGRQ"),
                       d.get("ZZKFRQ"), d.get("period_end") or d.get("YDDGRQ"), d.get("days_over"),
                       f["area"]["m2"], f["area"]["ha"], f["area"]["mu"]])
    for j, width in enumerate([10, 12, 12, 28, 26, 8, 34, 10, 12, 12, 12, 12, 12, 10, 14, 12, 12], start=1):
        ws.column_dimensions[ws.cell(row=1, column=j).column_letter].width = width
    ws.freeze_panes = "A2"
    about = wb.create_sheet("说明")
    area = doc["area"] or {}
    for item in (("日期 date", doc["date"]), ("范围 area", area.get("region") or ("geometry" if area else "全部")),
                 ("规则 rules", doc["rules"]), ("抽屉条目 entries", ", ".join(doc["entries"])),
                 ("面积 area", "椭球面积（CGCS2000）/ geodesic area on CGCS2000; 1 公顷 = 10,000 m², 1 亩 = 666.67 m²")):
        about.append(list(item))
    about.column_dimensions["A"].width = 20
    about.column_dimensions["B"].width = 90
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


class LandAuditProcessor(OneMapProcessor):
    """土地全生命周期核查 / land-audit."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": PROCESS_ID,
        "title": {"zh": "批供用核查（批而未供、供而未用、闲置土地）", "en": "Land audit (approved not supplied, not started, idle)"},
        "description": {
            "zh": "按规则（config/land_audit.yaml，附依据）核查某行政区或范围在某日的批而未供、供而未用与闲置土地（《闲置土地"
                  "处置办法》第二条）：每项发现列出所依据的审批、供应记录（要素标识、批准文号、合同编号）、规则所用日期和超期"
                  "天数，以及椭球面积（平方米、公顷、亩）；发现同时作为预警（类型 land），不再成立的预警由核查关闭。",
            "en": "Finds approved land not supplied, supplied land not started and idle land (Measures on idle land, "
                  "art. 2) in a region or area on a date, by the rules in config/land_audit.yaml (with their sources); "
                  "each finding cites its records (feature ids, approval and contract numbers), the dates the rule "
                  "used and how long over, with geodesic areas in m², ha and mu. Findings become warnings of kind "
                  "land; the audit closes those that no longer hold.",
        },
        "keywords": ["批而未供", "供而未用", "闲置土地", "land audit", "idle land"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "area": {
                "title": "范围 / Area",
                "description": "A region code (e.g. 990121: records whose XZQDM lies in it), or a boundary as for "
                               "statistics (GeoJSON in lon/lat CGCS2000 by default, coordinate file, GML, KML: records "
                               "it touches). Everywhere when left out.",
                "schema": {"oneOf": [{"type": "object"}, {"type": "string", "maxLength": 20_000_000}]},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "area_format": FORMAT_INPUT,
            "crs": CRS_INPUT,
            "date": {
                "title": "日期 / Date",
                "description": "The audit's date (YYYY-MM-DD; today in Asia/Shanghai by default): the records of the "
                               "management entries in force then, dated on or before it.",
                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "warnings": {
                "title": "更新预警 / Update the warnings",
                "description": "Raise the findings as warnings and close those that no longer hold (default true); "
                               "false: a report only.",
                "schema": {"type": "boolean", "default": True},
                "minOccurs": 0, "maxOccurs": 1,
            },
        },
        "outputs": {
            "findings": {
                "title": "核查结果 / Findings",
                "description": "JSON (default) or XLSX: the findings by category with their records, dates and areas.",
                "schema": {"type": "object", "contentMediaType": JSON_MEDIA},
                "formats": [JSON_MEDIA, XLSX_MEDIA],
            },
        },
        "example": {"inputs": {"area": "990121", "date": "2026-06-30"}},
    }

    def _question(self, inputs: dict[str, Any], settings: Settings, store: Store
                  ) -> tuple[dt.date, str | None, shapely.Geometry | None, dict[str, Any] | None]:
        raw = inputs.get("date")
        try:
            day = parse_day(raw, settings.timezone)
        except InvalidParameterValue:
            raise InvalidParameterValue(f"input 'date': {raw!r} is not a date (YYYY-MM-DD)") from None
        area = inputs.get("area")
        if area is None:
            return day, None, None, None
        if isinstance(area, str) and REGION_RE.match(area):
            try:
                found = Regions(store, day).get(area)
            except NotFound:
                raise InvalidParameterValue(f"area: no region {area} in the land survey in force on "
                                            f"{day.isoformat()}") from None
            return day, area, None, {"region": found.code, "name": found.name, "level": found.level}
        boundary = _boundary(area, settings, inputs.get("area_format"), inputs.get("crs"))
        doc = {"geometry": shapely.geometry.mapping(boundary), **area_units(float(geodesic_area(boundary)))}
        return day, None, boundary, doc

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        if store is not None:
            self._question(inputs, settings, store)

    def heavy(self, inputs: dict[str, Any], settings: Settings) -> bool:
        """A bureau's registers are thousands of records, read in one query per entry and layer."""
        return False

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        ctx.progress(5, "checking the question")
        day, region, boundary, area_doc = self._question(inputs, ctx.settings, ctx.store)
        rules_path = ctx.settings.processes.land_audit_rules
        ctx.progress(20, "auditing")
        audit = run_audit(ctx.store, day, get_land_audit_rules(rules_path), region, boundary, area_doc)
        events = None
        if inputs.get("warnings", True):
            ctx.progress(80, "warnings")
            from onemap.providers.webhooks import queue_events

            wrules = get_warning_rules(ctx.settings.warning_rules)
            events = feed_warnings(ctx.store, audit, f"{PROCESS_ID}:{ctx.owner or 'system'}", wrules)
            queue_events(ctx.store, wrules, events)
        doc = audit_document(audit, rules_path.name, events)
        return {name: Output(XLSX_MEDIA, to_xlsx(doc)) if media == XLSX_MEDIA else Output(JSON_MEDIA, doc)
                for name, media in outputs.items()}
