"""预警: a scan turns what the one map says into warnings, and queues their deliveries.

Three kinds, all data (config/warnings.yaml, config/land_audit.yaml):

- **indicator**: an indicator of a region (config/indicators.yaml) whose status on the scan's date is
  预警 or 超标 opens a warning (or changes its severity); back to 达标 or without a target, the scan
  closes it. Evaluated for every region of the survey in force and every indicator of its level.
- **land**: the land audit (processes/land_audit.py, config/land_audit.yaml) of the whole map on the scan's date:
  each 批而未供, 供而未用 or 闲置 finding opens a warning per record and category; one that no longer holds is closed.
- **filing**: a drawer entry filed since the last scan (the registry's events, in order) whose planned
  urban construction land (the compliance review's list of uses) overlaps a control line, or lies
  outside the urban development boundary, as the plans governing on the date it comes into force
  draw them, by more than the rules' tolerance. Where no plan governs a line there, nothing is said
  about it (a warning is not raised on no data, and none is withheld as a pass: the detail says so).

Every event a scan records (opened, escalated, eased, closed) is queued for the subscriptions that ask
for its kind and region; ``providers.webhooks`` posts them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import shapely

from onemap.config.land_audit import LandAuditRules, get_land_audit_rules
from onemap.config.monitoring import MonitoringRules, get_monitoring_rules
from onemap.config.settings import Settings
from onemap.config.warnings import WarningRules, get_warning_rules
from onemap.domain.dates import When
from onemap.domain.governing import areal
from onemap.domain.plans import Plan
from onemap.providers.geometry import area_units, geodesic_area
from onemap.providers.indicators import IndicatorService, shared_service
from onemap.providers.regions import Regions
from onemap.providers.store import Store
from onemap.providers.store.warnings import WarningEvent
from onemap.providers.webhooks import queue_events

from .base import OneMapProcessor, Output, RunContext
from .change_detection import ChangeDetector, survey_days, warn
from .compliance import is_urban_use, load_rules
from .land_audit import feed_warnings, run_audit
from .overlay import Governed
from .statistics import parse_day

LOG = logging.getLogger(__name__)
FILING_MARK = "filing_events"  # the last registry event a scan has read
SCAN_ACTOR = "scan"
SCAN_PROCESS = "warnings-scan"


@dataclass
class ScanResult:
    """What one scan did."""

    day: dt.date
    events: list[WarningEvent] = field(default_factory=list)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> action -> events
    indicators_checked: int = 0
    filings_checked: list[str] = field(default_factory=list)
    land_findings: int = 0
    deliveries: int = 0

    def add(self, kind: str, events: Sequence[WarningEvent | None]) -> None:
        """Events a check of ``kind`` recorded (None: nothing changed)."""
        for e in events:
            if e is None:
                continue
            self.events.append(e)
            counts = self.by_kind.setdefault(kind, {})
            counts[e.action] = counts.get(e.action, 0) + 1

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for e in self.events:
            counts[e.action] = counts.get(e.action, 0) + 1
        return {"datetime": self.day.isoformat(), "events": counts, "events_by_kind": self.by_kind,
                "indicators_checked": self.indicators_checked,
                "filings_checked": self.filings_checked, "land_findings": self.land_findings,
                "deliveries_queued": self.deliveries}


class WarningScanner:
    """Scans one store. ``compliance_rules``: the file whose list of urban construction uses the filing check
    shares with the compliance review; ``land_rules``: the land audit's (config/land_audit.yaml)."""

    def __init__(self, store: Store, compliance_rules: Path, rules: WarningRules | None = None,
                 service: IndicatorService | None = None, land_rules: LandAuditRules | None = None,
                 monitoring_rules: MonitoringRules | None = None) -> None:
        self.store = store
        self.rules = rules or get_warning_rules()
        self.land_rules = land_rules or get_land_audit_rules()
        self.monitoring_rules = monitoring_rules or get_monitoring_rules()
        self.service = service or shared_service(store)
        self.compliance = load_rules(compliance_rules)
        self.ws = store.warnings

    def scan(self, day: dt.date, progress: Any = None) -> ScanResult:
        """Indicators on ``day`` and the filings since the last scan; then the deliveries of what changed."""
        out = ScanResult(day)
        report = progress or (lambda pct, msg: None)
        report(5, "indicators")
        self._indicators(day, out)
        report(60, "filings")
        self._filings(day, out)
        report(75, "land")
        self._land(day, out)
        report(90, "deliveries")
        out.deliveries = self.queue(out.events)
        return out

    # ---- indicators ----------------------------------------------------------------------------------
    def _indicators(self, day: dt.date, out: ScanResult) -> None:
        severity_of = self.rules.indicator.status_severity
        for region in Regions(self.store, day):
            for value in self.service.evaluate(region, day):
                out.indicators_checked += 1
                key = f"indicator:{region.code}:{value['code']}"
                severity = severity_of.get(value["status"])
                if severity is None:
                    live = self.ws.live(key)
                    if live is not None:
                        label = value["status_label"]["zh"]
                        _, closed = self.ws.move(live.id, "closed", SCAN_ACTOR,
                                                 f"{day.isoformat()} {label} ({value['status']})", expect=live.status)
                        out.add("indicator", [closed])
                    continue
                d = self.service.definition(value["code"])
                status = value["status_label"]
                title = {"zh": f"{region.name}{d.title['zh']}{status['zh']}",
                         "en": f"{region.name}: {d.title.get('en', d.code)} {status['en'].lower()}"}
                detail = {"indicator": value["code"], "name": d.title["zh"], "unit": d.unit, "kind": d.kind,
                          "value": value["value"], "target": value["target"], "gap": value["gap"],
                          "status": value["status"], "target_plan": value.get("target_plan"),
                          "datetime": day.isoformat(), "region_name": region.name, "level": region.level}
                _, event = self.ws.raise_(key, "indicator", region.code, severity, title, detail, region.outline,
                                          SCAN_ACTOR, self.rules.rank)
                out.add("indicator", [event])

    # ---- land (批而未供, 供而未用, 闲置) ----------------------------------------------------------------------
    def _land(self, day: dt.date, out: ScanResult) -> None:
        """The land audit of the whole map on ``day``: its findings raised, those no longer holding closed."""
        audit = run_audit(self.store, day, self.land_rules)
        out.land_findings = len(audit.all())
        out.add("land", feed_warnings(self.store, audit, SCAN_ACTOR, self.rules))

    # ---- filings -------------------------------------------------------------------------------------
    def _filings(self, day: dt.date, out: ScanResult) -> None:
        last = int(self.ws.scan_mark(FILING_MARK) or 0)
        filed = [e for e in self.store.events() if e.seq > last and e.to_status == "filed"]
        plans = self.store.plans()
        seen: set[str] = set()
        for e in filed:
            plan = plans.get(e.plan_id)
            if plan is not None and plan.type == "survey" and plan.id not in seen:
                seen.add(plan.id)
                out.add("monitoring", self._new_survey(plan))
                continue
            if plan is None or plan.id in seen or plan.type not in self.rules.filing.plan_types:
                continue
            seen.add(plan.id)
            out.filings_checked.append(plan.id)
            for key, severity, title, detail, geom in self.filing_findings(plan, day):
                _, event = self.ws.raise_(key, "filing", plan.region, severity, title, detail, geom, SCAN_ACTOR,
                                          self.rules.rank)
                out.add("filing", [event])
        if filed:
            self.ws.set_scan_mark(FILING_MARK, str(max(e.seq for e in filed)))

    def _new_survey(self, plan: Plan) -> list[WarningEvent]:
        """A county's survey filed: change detection against the survey year before it (动态监测), its findings
        from their rules' thresholds on as warnings. A province's entry (the outlines) and a first survey: none."""
        if len(plan.region) != 6 or plan.region.endswith("00"):
            return []
        held = [y for y in survey_days(self.store) if y < plan.version]
        if not held or plan.version not in survey_days(self.store):
            return []
        _, findings = ChangeDetector(self.store, self.monitoring_rules).run(plan.region, max(held), plan.version)
        return warn(self.store, findings, self.monitoring_rules, self.rules.rank)

    def filing_findings(self, plan: Plan, day: dt.date
                        ) -> list[tuple[str, str, dict[str, str], dict[str, Any], shapely.Geometry]]:
        """(key, severity, title, detail, where) of each control line the plan's urban construction land touches,
        against the plans governing on the date it comes into force."""
        f = self.rules.filing
        layer = self.store.catalogue.layers[f.land_use_layer]
        if f.land_use_layer not in self.store.plan_layers(plan.id):
            return []
        geoms, cols = self.store.geometries(layer, [plan.id], columns=[f.land_use_field])
        codes = [str(c or "") for c in cols[f.land_use_field]]
        urban = np.asarray([bool(c) and is_urban_use(c, self.compliance) for c in codes], dtype=bool)
        if not urban.any():
            return []
        land = areal(shapely.union_all(np.asarray(geoms, dtype=object)[urban]))
        if land.is_empty:
            return []
        when_day = plan.valid_from or day
        governed = Governed(self.store, land, When.at(when_day), None)
        found = []
        for line in f.lines:
            target = self.store.catalogue.layers[line.layer]
            hits = governed.hits(target, columns=[])
            if line.test == "overlap":
                where = areal(hits.union())
            else:  # outside: the construction land where a plan governs the line but draws none of it
                where = areal(shapely.difference(areal(shapely.intersection(land, hits.covered)), hits.union()))
            m2 = float(geodesic_area(where)) if not where.is_empty else 0.0
            if m2 <= f.min_m2:
                continue
            detail = {"plan_id": plan.id, "plan_title": plan.title, "plan_type": plan.type, "plan_level": plan.level,
                      "layer": line.layer, "test": line.test, "valid_from": when_day.isoformat(),
                      "construction_land": area_units(float(geodesic_area(land))), "area": area_units(m2),
                      "governing_plans": sorted({s.plan.id for s in hits.scopes}),
                      "ungoverned": area_units(hits.uncovered_m2)}
            found.append((f"filing:{plan.id}:{line.layer}", line.severity, line.title, detail, where))
        return found

    # ---- deliveries ----------------------------------------------------------------------------------
    def queue(self, events: list[WarningEvent]) -> int:
        """A delivery of each event to every active subscription asking for it."""
        return queue_events(self.store, self.rules, events)




def run_scan(store: Store, settings: Settings, day: dt.date, worker: str, progress: Any = None) -> ScanResult:
    """A scan, then the first attempt of every delivery that is due (retries come with the job loop)."""
    from onemap.providers.webhooks import WebhookPolicy, deliver_due

    scanner = WarningScanner(store, settings.processes.compliance_rules, get_warning_rules(settings.warning_rules),
                             land_rules=get_land_audit_rules(settings.processes.land_audit_rules),
                             monitoring_rules=get_monitoring_rules(settings.monitoring_rules))
    result = scanner.scan(day, progress)
    deliver_due(store, scanner.rules, WebhookPolicy(settings.webhook_allow), worker, limit=max(result.deliveries, 1))
    return result


def queue_scan(store: Store, owner: str | None = None) -> str:
    """Queue a scan as a job any worker takes (after a filing, which may touch a control line); its id."""
    request = {"inputs": {}, "outputs": {"summary": "application/json"}, "response": "raw"}
    return store.jobs.create(SCAN_PROCESS, "async", request, owner=owner).id


class WarningScanProcessor(OneMapProcessor):
    """warnings-scan: indicators of every region on a date and the filings since the last scan, as warnings."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": SCAN_PROCESS,
        "title": {"zh": "预警扫描", "en": "Warning scan"},
        "description": {
            "zh": "按预警规则（config/warnings.yaml）扫描：各级行政区在某日的指标状态（预警、超标）与上次扫描以来备案的"
                  "规划是否触碰三条控制线，以及当日的批而未供、供而未用与闲置土地（land-audit），新增、升级、降级或解除预警，并向订阅者推送。"
                  "每次备案后自动排队执行。",
            "en": "Scans by the warning rules: every region's indicator status on a date (warning, breach) and the "
                  "plans filed since the last scan against the three control lines, and the land audit (approved not "
                  "supplied, not started, idle) on the date; opens, escalates, eases or "
                  "closes warnings and queues their deliveries. Queued by itself after every filing.",
        },
        "keywords": ["预警", "warnings", "supervision"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "datetime": {
                "title": "日期 / Date",
                "description": "Indicators as on this date (YYYY-MM-DD); today in Asia/Shanghai by default.",
                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
        },
        "outputs": {
            "summary": {
                "title": "扫描结果 / Scan summary",
                "description": "The events recorded (opened, escalated, eased, closed), what was checked and the "
                               "deliveries queued.",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
        },
        "example": {"inputs": {"datetime": "2024-01-01"}},
    }

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        parse_day(inputs.get("datetime"), settings.timezone)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        day = parse_day(inputs.get("datetime"), ctx.settings.timezone)
        result = run_scan(ctx.store, ctx.settings, day, f"scan:{ctx.owner or 'system'}", ctx.progress)
        return {"summary": Output("application/json", result.summary())}
