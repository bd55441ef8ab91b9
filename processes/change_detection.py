"""change-detection (动态监测): new construction land between two land surveys, by the rules of
config/monitoring.yaml, against the plans governing on the later survey's date.

Township by township (bounded memory on a county of any size, progress per township), the two surveys are
compared as the compare process compares them (providers.compare: each side as it governs, pieces of
parcels whose class changed). A piece that was not construction land and is now is new construction land;
each rule reports the part of it on its ``from`` classes (耕地), or inside or outside its control line as
the governing plans draw it there (where no plan draws the line, nothing is said: the finding's detail
names that area as ungoverned). One finding per rule and parcel of the later survey, citing the parcels of
both surveys; a run replaces what the same county and years found before. Findings from ``warn_m2`` on
are also warnings (预警, kind ``monitoring``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

import shapely

from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.config.monitoring import MonitoringRules, get_monitoring_rules, matches
from onemap.config.settings import Settings
from onemap.config.warnings import get_warning_rules
from onemap.domain.dates import When
from onemap.domain.governing import areal
from onemap.providers.compare import compare, read_state, state
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.indicators import shared_service
from onemap.providers.regions import Region, Regions
from onemap.providers.store import Store
from onemap.providers.store.warnings import Finding, WarningEvent
from onemap.providers.webhooks import queue_events

from .base import OneMapProcessor, Output, RunContext
from .overlay import Governed
from .statistics import REGION_RE

SCAN_ACTOR = "change-detection"


def survey_days(store: Store) -> dict[str, dt.date]:
    """Survey year -> the date it came into force, for every survey held."""
    return dict(shared_service(store).survey_dates())


def years(store: Store, from_year: str | None, to_year: str | None) -> tuple[str, dt.date, str, dt.date]:
    """The two surveys compared (default: the last two held), each with its date in force."""
    held = survey_days(store)
    order = sorted(held, key=lambda y: held[y])
    if len(order) < 2 and (from_year is None or to_year is None):
        raise InvalidParameterValue("change detection needs two survey years; the store holds "
                                    f"{', '.join(order) or 'none'}")
    a = from_year or order[-2]
    b = to_year or order[-1]
    for y in (a, b):
        if y not in held:
            raise InvalidParameterValue(f"no survey of {y} is held; the survey years are {', '.join(order)}")
    if held[a] >= held[b]:
        raise InvalidParameterValue(f"from_year ({a}) must be an earlier survey than to_year ({b})")
    return a, held[a], b, held[b]


class ChangeDetector:
    """Runs the rules over one county (or township) between two surveys."""

    def __init__(self, store: Store, rules: MonitoringRules | None = None) -> None:
        self.store = store
        self.rules = rules or get_monitoring_rules()
        self.layer = store.catalogue.layers[self.rules.layer]

    def run(self, area: str, from_year: str | None, to_year: str | None, progress: Any = None
            ) -> tuple[dict[str, Any], list[Finding]]:
        tick = progress or (lambda pct, msg: None)
        ya, day_a, yb, day_b = years(self.store, from_year, to_year)
        regions = Regions(self.store, day_b)
        try:
            region = regions.get(area)
        except NotFound:
            raise InvalidParameterValue(f"area: no region {area} in the survey of {yb}") from None
        if region.level not in ("county", "township"):
            raise InvalidParameterValue("area: change detection runs for a county or a township (a city's: one "
                                        "county after another)")
        townships = [region] if region.level == "township" else regions.at_level("township", region.code)
        county = region.code if region.level == "county" else str(region.parent or region.code[:6])
        run = f"{region.code}:{ya}:{yb}"
        sa = state(self.store, self.layer, ya, day_a, None, unfiled=False)
        sb = state(self.store, self.layer, yb, day_b, None, unfiled=False)
        findings: list[Finding] = []
        new_m2 = 0.0
        for i, town in enumerate(townships):
            tick(5 + int(85 * i / max(len(townships), 1)), f"township {town.code} ({i + 1}/{len(townships)})")
            found, m2 = self._township(town, county, sa, sb, ya, yb, day_b, run)
            findings += found
            new_m2 += m2
        tick(92, "recording")
        self.store.warnings.replace_findings(run, findings)
        by_rule: dict[str, list[Finding]] = defaultdict(list)
        for f in findings:
            by_rule[f.rule].append(f)
        summary = [{"rule": r.id, "title": r.title, "severity": r.severity, "findings": len(by_rule[r.id]),
                    **area_units(sum(f.m2 for f in by_rule[r.id]))} for r in self.rules.rules]
        doc = {"area": {"region": region.code, "name": region.name, "level": region.level}, "run": run,
               "from_year": ya, "from_date": day_a.isoformat(), "to_year": yb, "to_date": day_b.isoformat(),
               "new_construction": area_units(new_m2), "rules": summary,
               "findings": [finding_json(f) for f in findings]}
        return doc, findings

    def _township(self, town: Region, county: str, sa: Any, sb: Any, ya: str, yb: str, day_b: dt.date,
                  run: str) -> tuple[list[Finding], float]:
        r = self.rules
        code = r.code_field
        a = read_state(self.store, self.layer, sa, town.outline, code)
        b = read_state(self.store, self.layer, sb, town.outline, code)
        c = compare(self.layer, a, b, code)
        props_b = dict(zip(b.fids, b.props))
        props_a = dict(zip(a.fids, a.props))
        new = [p for p in c.pieces if p["change"] in ("changed", "added")
               and matches(p["to"], r.construction) and not matches(p["from"], r.construction)
               and p.get("m2", 0.0) > r.min_m2]
        if not new:
            return [], 0.0
        new_m2 = float(sum(p["m2"] for p in new))
        land = areal(shapely.union_all([p["geometry"] for p in new]))
        governed = Governed(self.store, land, When.at(day_b), None)
        lines: dict[str, tuple[shapely.Geometry, shapely.Geometry, float]] = {}
        for rule in r.rules:
            if rule.line and rule.line not in lines:
                hits = governed.hits(self.store.catalogue.layers[rule.line], columns=[])
                lines[rule.line] = (areal(hits.union()), hits.covered, hits.uncovered_m2)
        now = time.time()
        # (rule, parcel of the later survey) -> the pieces' parts the rule reports
        parts: dict[tuple[str, int], list[tuple[dict[str, Any], shapely.Geometry]]] = defaultdict(list)
        for p in new:
            g = p["geometry"]
            for rule in r.rules:
                if rule.urban_only and not matches(str(props_b.get(p["to_fid"], {}).get(r.urban_field) or ""),
                                                   r.urban):
                    continue
                if rule.from_:
                    part = g if matches(p["from"], rule.from_) else None
                else:
                    drawn, covered, _ = lines[rule.line]  # type: ignore[index]
                    part = shapely.intersection(g, drawn) if rule.test == "inside" else \
                        shapely.difference(shapely.intersection(g, covered), drawn)
                    part = areal(part) if part is not None else None
                if part is not None and not part.is_empty:
                    parts[(rule.id, p["to_fid"])].append((p, part))
        out = []
        titles = {rule.id: rule for rule in r.rules}
        for (rid, fid), items in sorted(parts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            geom = areal(shapely.union_all([g for _, g in items]))
            m2 = float(geodesic_area(geom))
            if m2 <= r.min_m2:
                continue
            rule = titles[rid]
            after = props_b.get(fid, {})
            before = [{"fid": p["from_fid"], "BSM": props_a.get(p["from_fid"], {}).get("BSM"), code: p["from"]}
                      for p, _ in items if p["from_fid"] is not None]
            detail: dict[str, Any] = {"parcel": {"fid": fid, "BSM": after.get("BSM"), code: after.get(code),
                                 r.urban_field: after.get(r.urban_field), "TBBH": after.get("TBBH")},
                      "before": sorted(before, key=lambda x: x["fid"]), "township_name": town.name,
                      "area": area_units(m2)}
            if rule.line:
                detail["line"] = rule.line
                detail["ungoverned_m2"] = round(lines[rule.line][2], 2)
            fid_key = after.get("BSM") or fid
            out.append(Finding(id="m" + hashlib.sha1(f"{run}|{rid}|{fid_key}".encode()).hexdigest()[:15], run=run, rule=rid,
                               region=town.code, county=county, from_year=ya, to_year=yb, severity=rule.severity,
                               m2=round(m2, 2), title_zh=rule.title["zh"], title_en=rule.title["en"],
                               detail=detail, found=now, geometry=geom))
        return out, new_m2


def finding_json(f: Finding) -> dict[str, Any]:
    """A finding as JSON (its geometry as GeoJSON)."""
    return {"id": f.id, "rule": f.rule, "title": {"zh": f.title_zh, "en": f.title_en}, "severity": f.severity,
            "region": f.region, "county": f.county, "from_year": f.from_year, "to_year": f.to_year,
            **area_units(f.m2), "detail": f.detail,
            "geometry": shapely.geometry.mapping(f.geometry) if f.geometry is not None else None}


def warn(store: Store, findings: list[Finding], rules: MonitoringRules, rank: Callable[[str], int]
         ) -> list[WarningEvent]:
    """Findings from their rule's ``warn_m2`` on become warnings (预警, kind ``monitoring``); the events recorded."""
    by_id = {r.id: r for r in rules.rules}
    events = []
    for f in findings:
        if f.m2 < by_id[f.rule].warn_m2:
            continue
        key = f"monitoring:{f.rule}:{f.to_year}:{f.detail['parcel'].get('BSM') or f.detail['parcel']['fid']}"
        detail = {"finding": f.id, "rule": f.rule, "from_year": f.from_year, "to_year": f.to_year,
                  "township": f.region, "township_name": f.detail.get("township_name"), "area": area_units(f.m2),
                  "parcel": f.detail["parcel"]}
        _, event = store.warnings.raise_(key, "monitoring", f.region, f.severity,
                                         {"zh": f"{f.detail.get('township_name', f.region)}{f.title_zh}",
                                          "en": f"{f.region}: {f.title_en}"}, detail, f.geometry, SCAN_ACTOR, rank)
        if event is not None:
            events.append(event)
    return events


class ChangeDetectionProcessor(OneMapProcessor):
    """change-detection: new construction land between two surveys, by the monitoring rules."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "change-detection",
        "title": {"zh": "动态监测（变化图斑检测）", "en": "Change detection between land surveys"},
        "description": {
            "zh": "比较两个年度国土调查，按监测规则（config/monitoring.yaml）逐乡镇找出新增建设用地：占用耕地、"
                  "生态保护红线内、永久基本农田内、城镇开发边界外的城镇建设（按后一年度调查生效日的现行规划），"
                  "每个发现注明涉及的前后图斑、乡镇、面积（平方米、公顷、亩）和严重程度；达到阈值的发现同时形成预警。",
            "en": "Compares two land surveys township by township and finds new construction land by the monitoring "
                  "rules: on cropland, inside the ecological red line, on permanent basic farmland, urban "
                  "construction outside the urban development boundary (the plans governing on the later survey's "
                  "date); each finding cites the parcels of both surveys, the township, the area and a severity; "
                  "findings above a rule's threshold are also warnings.",
        },
        "keywords": ["动态监测", "变化图斑", "change detection", "monitoring"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "area": {"title": "行政区代码 / Region", "description": "A county (its townships one after another) or "
                     "a township.", "schema": {"type": "string", "pattern": r"^[0-9]{6}([0-9]{3})?$"},
                     "minOccurs": 1, "maxOccurs": 1},
            "from_year": {"title": "前一年度 / Earlier survey", "description": "Default: the last but one held.",
                          "schema": {"type": "string", "pattern": r"^[0-9]{4}$"}, "minOccurs": 0, "maxOccurs": 1},
            "to_year": {"title": "后一年度 / Later survey", "description": "Default: the last held.",
                        "schema": {"type": "string", "pattern": r"^[0-9]{4}$"}, "minOccurs": 0, "maxOccurs": 1},
        },
        "outputs": {
            "findings": {"title": "监测结果 / Findings", "description": "Per rule: count and area; every finding with "
                         "its parcels, township, area, severity and geometry.",
                         "schema": {"type": "object", "contentMediaType": "application/json"}},
        },
        "example": {"inputs": {"area": "990121", "from_year": "2022", "to_year": "2023"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        if not REGION_RE.match(inputs["area"]):
            raise InvalidParameterValue(f"area {inputs['area']!r} is not a 6 or 9 digit region code")
        if store is not None:
            years(store, inputs.get("from_year"), inputs.get("to_year"))

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        rules = get_monitoring_rules(ctx.settings.monitoring_rules)
        doc, findings = ChangeDetector(ctx.store, rules).run(inputs["area"], inputs.get("from_year"),
                                                             inputs.get("to_year"), ctx.progress)
        ctx.progress(96, "warnings")
        wr = get_warning_rules(ctx.settings.warning_rules)
        events = warn(ctx.store, findings, rules, wr.rank)
        doc["warnings_changed"] = len(events)
        queue_events(ctx.store, wr, events)
        return {"findings": Output("application/json", doc)}
