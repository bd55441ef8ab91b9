"""compliance-review (规划符合性审查): a project boundary against the one map on a date.

Each check of config/compliance_rules.yaml is run by the code for its ``kind``; the rules say
which layer, which codes, which verdict and which message. Areas are geodesic on CGCS2000.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import shapely

from onemap.config.catalogue import Catalogue
from onemap.config.errors import ConfigError, InvalidInput
from onemap.config.files import read_yaml
from onemap.config.settings import PACKAGE_DIR, Settings
from onemap.domain.dates import When
from onemap.providers.drawers import parse_when
from onemap.providers.geometry import geodesic_area
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, RunContext
from .certificates import RECORDED_INPUT, archive, file_hashes, pinned_recorded, plan_entry, reference
from .overlay import Governed, Hits, measured, plan_citation, to_geojson

RULES_PATH = PACKAGE_DIR / "compliance_rules.yaml"
# a check no plan governs cannot pass: undetermined ranks above conditional, below a definite failure
# a review takes a slot for heavy work (processes/slots.py) above either size: a boundary given in more than
# this many bytes (about 10,000 vertices as GeoJSON), or covering more than this many km²
HEAVY_BOUNDARY_BYTES = 256 * 1024
HEAVY_BOUNDARY_KM2 = 25.0
VERDICT_ORDER = {"pass": 0, "conditional": 1, "undetermined": 2, "fail": 3}
VERDICT_TEXT = {"pass": ("符合", "compliant"), "conditional": ("有条件符合", "compliant with conditions"),
                "undetermined": ("无法判定", "undetermined"), "fail": ("不符合", "not compliant")}
KINDS = ("overlap", "containment", "zone_use", "land_use_match", "survey_breakdown")
PROJECT_TYPES = ("ordinary", "major_infrastructure")
# the outcomes each kind of check reads: a name, or (name, what it is chosen by: each project type, or
# whether the use is urban construction); zone_use also reads the verdicts its zones name
_OUTCOMES: dict[str, tuple[str | tuple[str, tuple[str, ...]], ...]] = {
    "overlap": ("clear", ("overlap", PROJECT_TYPES)),
    "containment": ("inside", ("partly", ("urban", "other")), ("outside", ("urban", "other"))),
    "zone_use": ("allowed", "none", "conditional"),
    "land_use_match": ("match", "conditional", "fail", "outside"),
    "survey_breakdown": ("cropland", "no_cropland"),
}
# the fields each kind reads from its layer's features
_FIELDS = {"zone_use": ("GHFQMC",), "land_use_match": ("YDYHFLDM", "YDYHFLMC", "YDYHBB"),
           "survey_breakdown": ("DLBM",)}

BOUNDARY_INPUT = {
    "title": "项目范围 / Project boundary",
    "description": "GeoJSON geometry, Feature or FeatureCollection (Polygon/MultiPolygon, CRS84 unless "
                   "'crs' says otherwise), the land-approval coordinate text file (部标准格式), GML 3.2 or KML.",
    "schema": {"oneOf": [{"type": "object"}, {"type": "string", "maxLength": 20_000_000}]},
    "minOccurs": 1, "maxOccurs": 1,
}
FORMAT_INPUT = {
    "title": "范围格式 / Boundary format",
    "description": "geojson, coordfile, gml or kml; detected when left out.",
    "schema": {"type": "string", "enum": ["geojson", "coordfile", "gml", "kml"]},
    "minOccurs": 0, "maxOccurs": 1,
}
CRS_INPUT = {
    "title": "坐标参照系 / CRS of a GeoJSON boundary",
    "description": "OGC:CRS84 (default), EPSG:4490, EPSG:4326, EPSG:3857 or a CGCS2000 Gauss-Krüger zone "
                   "(EPSG:4513-4554); coordinates in x,y (easting/longitude first) order.",
    "schema": {"type": "string", "maxLength": 100},
    "minOccurs": 0, "maxOccurs": 1,
}
DATE_INPUT = {
    "title": "审查日期 / Date",
    "description": "The one map as it stood on this date (YYYY-MM-DD); today by default.",
    "schema": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    "minOccurs": 0, "maxOccurs": 1,
}


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> dict[str, Any]:
    """The rule file, checked for everything the review reads from it (the layers against the catalogue:
    ``check_rules_against``); a mistake is a ConfigError naming the file and the rule."""
    rules = read_yaml(path, "compliance rules")
    name = Path(path).name
    if not isinstance(rules, dict) or rules.get("version") != 1 or not isinstance(rules.get("checks"), list) \
            or not rules["checks"]:
        raise ConfigError(f"{name}: expected 'version: 1' and a list of checks")
    _check_top(rules, name)
    ids = set()
    for i, check in enumerate(rules["checks"], start=1):
        cid = check.get("id") if isinstance(check, dict) else None
        if not isinstance(cid, str) or not cid or cid in ids:
            raise ConfigError(f"{name}: check {i} needs an id of its own")
        ids.add(cid)
        _check_rule(check, f"{name}: compliance rule {cid}")
    return rules


def _texts(value: Any, where: str, **fields: str) -> None:
    """A {zh, en} message; one the review fills in (``fields`` given) has only those placeholders."""
    if not isinstance(value, dict) or not all(isinstance(value.get(lang), str) for lang in ("zh", "en")):
        raise ConfigError(f"{where}: expected a text in zh and en")
    for lang in ("zh", "en") if fields else ():
        try:
            value[lang].format(**fields)
        except (KeyError, IndexError, ValueError) as err:
            raise ConfigError(f"{where}: the {lang} text has a placeholder it cannot fill ({err})") from None


def _codes(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ConfigError(f"{where}: expected a list of land-use codes (strings)")


def _check_top(rules: dict[str, Any], name: str) -> None:
    types = rules.get("project_types")
    if not isinstance(types, dict) or set(PROJECT_TYPES) - set(types):
        raise ConfigError(f"{name}: project_types must name {', '.join(PROJECT_TYPES)}")
    for key, label in types.items():
        _texts(label, f"{name}: project_types.{key}")
    _codes(rules.get("urban_construction_uses"), f"{name}: urban_construction_uses")
    _codes(rules.get("urban_construction_except", []), f"{name}: urban_construction_except")
    undetermined = rules.get("undetermined")
    if not isinstance(undetermined, dict):
        raise ConfigError(f"{name}: undetermined needs the messages 'none' and 'partly'")
    _texts(undetermined.get("none"), f"{name}: undetermined.none", title_zh="", title_en="")
    _texts(undetermined.get("partly"), f"{name}: undetermined.partly", ha="", mu="")


def _outcome_of(outcomes: dict[str, Any], key: str, where: str, **fields: str) -> None:
    outcome = outcomes.get(key)
    if not isinstance(outcome, dict) or outcome.get("verdict") not in VERDICT_ORDER:
        raise ConfigError(f"{where}: outcome {key} needs a verdict ({', '.join(VERDICT_ORDER)}) and a message")
    _texts(outcome.get("message"), f"{where}: outcome {key}", **fields)


def _share(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: expected a share between 0 and 1")


def _check_rule(check: dict[str, Any], where: str) -> None:
    kind = check.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if not isinstance(check.get("layer"), str):
        raise ConfigError(f"{where}: needs a layer")
    _texts(check.get("title"), f"{where}: title")
    _texts(check.get("rule"), f"{where}: rule")
    outcomes = check.get("outcomes")
    if not isinstance(outcomes, dict):
        raise ConfigError(f"{where}: needs its outcomes")
    for entry in _OUTCOMES[kind]:
        if isinstance(entry, str):
            _outcome_of(outcomes, entry, where)
            continue
        key, choices = entry
        if not isinstance(outcomes.get(key), dict):
            raise ConfigError(f"{where}: outcome {key} needs one outcome for each of {', '.join(choices)}")
        for choice in choices:
            _outcome_of(outcomes[key], choice, f"{where}: outcome {key}")
    if kind == "containment" and check.get("partly_fail_share") is not None:
        _share(check["partly_fail_share"], f"{where}: partly_fail_share")
        _outcome_of(outcomes, "partly_beyond", where, share="", limit="")
    if kind == "land_use_match":
        _share(check.get("fail_share"), f"{where}: fail_share")
    if kind == "survey_breakdown" and not isinstance(check.get("cropland_prefix"), str):
        raise ConfigError(f"{where}: cropland_prefix must be a land-survey code (a string)")
    if kind == "zone_use":
        zones = check.get("zones")
        if not isinstance(zones, dict):
            raise ConfigError(f"{where}: zones must map each planning zone to the uses it admits")
        for zone, spec in zones.items():
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}: zone {zone} needs 'allowed' (and 'else')")
            _codes(spec.get("allowed", []), f"{where}: zone {zone}: allowed")
            verdict = spec.get("else", "conditional")
            if verdict not in VERDICT_ORDER:
                raise ConfigError(f"{where}: zone {zone}: else must be a verdict ({', '.join(VERDICT_ORDER)})")
            if verdict != "pass":
                _outcome_of(outcomes, verdict, where)


def check_rules_against(rules: dict, catalogue: Catalogue) -> None:
    """The layers (and the fields and code tables their kinds read) of the rules are in the catalogue."""
    for check in rules["checks"]:
        layer = catalogue.layers.get(check["layer"])
        if layer is None:
            raise ConfigError(f"compliance rule {check['id']}: no layer {check['layer']!r} in the catalogue")
        missing = [f for f in _FIELDS.get(check["kind"], ()) if f not in layer.field_map]
        if missing:
            raise ConfigError(f"compliance rule {check['id']}: a {check['kind']} check needs the fields "
                              f"{', '.join(missing)}, which {layer.id} has not")
    if "sandiao_dlbm" not in catalogue.code_tables and any(c["kind"] == "survey_breakdown" for c in rules["checks"]):
        raise ConfigError("compliance rules: a survey_breakdown check needs the code table sandiao_dlbm")


def code_matches(code: str, patterns: list[str]) -> bool:
    return any(p == "*" or code.startswith(p) for p in patterns)


def _date(value: str | None, tz: str) -> When:
    if not value:
        return parse_when(None, tz)
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"input 'date': {value!r} is not a date (YYYY-MM-DD)") from None
    return parse_when(value, tz)


class ComplianceReviewProcessor(OneMapProcessor):
    """规划符合性审查 / planning compliance review."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "compliance-review",
        "title": {"zh": "规划符合性审查", "en": "Planning compliance review"},
        "description": {
            "zh": "将建设项目范围与“一张图”（三条控制线、其他控制线、规划分区、中心城区规划用地用海、三调现状）"
                  "叠加分析，逐项给出规则、结论（通过/有条件/不通过）、重叠面积（平方米、公顷、亩）及冲突图形，"
                  "并给出综合结论。",
            "en": "Overlays a project boundary with the one map (the three control lines, other control lines, "
                  "planning zones, the central city's planned land use and the land survey) and reports each "
                  "check's rule, verdict (pass / conditional / fail), overlap areas and conflict geometry, and "
                  "an overall verdict.",
        },
        "keywords": ["规划符合性审查", "compliance", "三区三线"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "boundary": BOUNDARY_INPUT,
            "boundary_format": FORMAT_INPUT,
            "crs": CRS_INPUT,
            "land_use": {
                "title": "拟用途（用地用海分类代码） / Intended land and sea use",
                "description": "A 用地用海 2023 code, e.g. 1001 (industrial), 0701 (urban residential).",
                "schema": {"type": "string", "pattern": r"^[0-9]{2,6}$"},
                "minOccurs": 1, "maxOccurs": 1,
            },
            "project_type": {
                "title": "项目类型 / Project type",
                "schema": {"type": "string", "enum": list(PROJECT_TYPES), "default": "ordinary"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "date": DATE_INPUT,
            "recorded": RECORDED_INPUT,
        },
        "outputs": {
            "result": {
                "title": "审查结果 / Review result",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
            "report": {
                "title": "审查报告（可打印） / Printable report",
                "schema": {"type": "string", "contentMediaType": "text/html"},
                "default": False,
            },
        },
        "example": {"inputs": {"boundary": {"type": "Polygon", "coordinates": [[[117.05, 31.47], [117.06, 31.47],
                                                                                    [117.06, 31.48], [117.05, 31.48],
                                                                                    [117.05, 31.47]]]},
                               "land_use": "1001"}},
    }

    def __init__(self, processor_def: dict, process_metadata: dict | None = None) -> None:
        super().__init__(processor_def, process_metadata)
        from onemap.config.settings import get_settings

        # a broken rule file stops the server at start-up, not a request later
        load_rules(Path(get_settings().compliance_rules))

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        """Before anything is queued: the boundary parses within the limits, the code exists."""
        self._boundary(inputs, settings)
        from onemap.config.catalogue import get_catalogue

        table = get_catalogue(settings.catalogue, settings.codes_dir).code_tables["ydyh_2023"]
        if inputs["land_use"] not in table:
            raise InvalidInput(f"input 'land_use': {inputs['land_use']!r} is not a 用地用海 2023 code")
        _date(inputs.get("date"), settings.timezone)
        if inputs.get("recorded"):
            pinned_recorded(inputs["recorded"], settings.timezone)

    def heavy(self, inputs: dict[str, Any], settings: Settings) -> bool:
        """A review of a large boundary takes a slot for heavy work; a project's usual boundary does not
        (measured at 200,000 parcels: a 1 km² review takes ~0.1 s; 99,000 vertices take seconds). The
        raw size bounds the vertices before any parsing; a small boundary is parsed for its area."""
        raw = inputs["boundary"]
        size = len(raw) if isinstance(raw, str) else len(json.dumps(raw))
        if size > HEAVY_BOUNDARY_BYTES:
            return True
        return bool(self._boundary(inputs, settings).area["m2"] > HEAVY_BOUNDARY_KM2 * 1e6)

    @staticmethod
    def _boundary(inputs: dict[str, Any], settings: Settings):
        from .boundary import BoundaryLimits, parse_boundary

        limits = BoundaryLimits(max_vertices=settings.processes.max_boundary_vertices,
                                max_area_km2=settings.processes.max_boundary_km2)
        return parse_boundary(inputs["boundary"], fmt=inputs.get("boundary_format"), crs=inputs.get("crs"),
                              limits=limits)

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        from .report import compliance_html

        ctx.progress(5, "reading the boundary")
        recorded = pinned_recorded(inputs.get("recorded"), ctx.settings.timezone)
        boundary = self._boundary(inputs, ctx.settings)
        when = _date(inputs.get("date"), ctx.settings.timezone)
        result = review(ctx, boundary, inputs["land_use"], inputs.get("project_type") or "ordinary", when, recorded)
        ref = result["certificate"] = reference(ctx, self.id)
        html = None
        if "report" in outputs:
            # the printable report costs more than the review: written when asked for (the
            # certificate's HTML is otherwise made from its pinned inputs when first fetched)
            ctx.progress(90, "writing the report")
            html = compliance_html(ctx, boundary, result, recorded)
        used = [plan_entry(p, "governing") for pid in sorted({c["plan_id"] for c in result["plans"]})
                if (p := ctx.store.plan(pid, recorded)) is not None]
        archive(ctx, ref, self.id, {k: v for k, v in inputs.items() if k not in ("date", "recorded")},
                date=result["date"], recorded=recorded, plans=used,
                rules=file_hashes([ctx.settings.processes.compliance_rules]), result=result, html=html)
        out: dict[str, Output] = {}
        if "result" in outputs:
            out["result"] = Output("application/json", result)
        if "report" in outputs:
            out["report"] = Output("text/html", html)
        return out


def review(ctx: RunContext, boundary: Any, land_use: str, project_type: str, when: When,
           recorded: dt.datetime | None = None) -> dict[str, Any]:
    """Every check of the rules, from the plans governing each part of the boundary, and the overall verdict.

    A check whose layer no plan governs over part of the boundary is undetermined (无法判定) for
    that part: it fails if what is governed already fails, and never passes.
    """
    rules = load_rules(Path(ctx.settings.processes.compliance_rules))
    catalogue = ctx.store.catalogue
    check_rules_against(rules, catalogue)
    geom = boundary.geometry
    total = float(boundary.area["m2"])
    ydyh = catalogue.code_tables["ydyh_2023"]
    urban = is_urban_use(land_use, rules)
    governed = Governed(ctx.store, geom, when, recorded)
    checks = []
    n = len(rules["checks"])
    for i, rule in enumerate(rules["checks"]):
        ctx.progress(10 + int(75 * i / n), f"checking {rule['id']}")
        layer = catalogue.layers[rule["layer"]]
        h = governed.hits(layer)
        runner = {"overlap": _overlap, "containment": _containment, "zone_use": _zone_use,
                  "land_use_match": _land_use_match, "survey_breakdown": _survey}[rule["kind"]]
        check = runner(rule, h, geom, total, land_use, project_type, urban, catalogue)
        checks.append(_coverage(rules, rule, h, check, total))
    worst = max(checks, key=lambda c: VERDICT_ORDER[c["result"]])["result"] if checks else "undetermined"
    reasons = [{"check": c["id"], "result": c["result"], "zh": c["message"]["zh"], "en": c["message"]["en"]}
               for c in checks if c["result"] != "pass"]
    verdict_text = VERDICT_TEXT[worst]
    plans: dict[str, dict] = {}
    for c in checks:
        for cited in c["governing_plans"]:
            plans.setdefault(cited["plan_id"], {k: v for k, v in cited.items() if k != "area"})
    return {
        "process": "compliance-review",
        "date": when.start.isoformat() if when.start else None,
        "recorded": recorded.isoformat() if recorded else None,
        "project": {
            "land_use": land_use,
            "land_use_label": {"zh": ydyh.label(land_use, "zh"), "en": ydyh.label(land_use, "en")},
            "urban_construction": urban,
            "project_type": project_type,
            "project_type_label": rules["project_types"].get(project_type),
            "area": dict(boundary.area),
            "source_crs": boundary.source_crs,
            "vertices": boundary.vertices,
            "parcels": boundary.parcels,
            "notes": boundary.notes,
            "geometry": to_geojson(geom),
        },
        "plans": sorted(plans.values(), key=lambda p: p["plan_id"]),
        "checks": checks,
        "overall": {
            "result": worst,
            "zh": f"综合结论：{verdict_text[0]}。" + "".join(r["zh"] for r in reasons),
            "en": f"Overall: {verdict_text[1]}. " + " ".join(r["en"] for r in reasons),
            "reasons": reasons,
        },
    }


def is_urban_use(land_use: str, rules: dict[str, Any]) -> bool:
    """Is the intended use urban construction (城镇建设用地: it belongs inside the urban development boundary)?"""
    return code_matches(land_use, rules["urban_construction_uses"]) and \
        not code_matches(land_use, rules.get("urban_construction_except", []))


def _coverage(rules: dict, rule: dict, h: Hits, check: dict[str, Any], total: float) -> dict[str, Any]:
    """Cite the governing plans of a check, and make it undetermined where no plan governs."""
    check["governing_plans"] = [plan_citation(s.plan, float(geodesic_area(s.geometry)), total) for s in h.scopes]
    check["uncovered"] = measured(h.uncovered, total)
    check["uncovered_geometry"] = to_geojson(h.uncovered)
    check["basis"] = {"source": rule.get("source"), "confidence": rule.get("confidence")}
    if h.determined:
        return check
    msg = rules["undetermined"]["none" if h.nothing_governs else "partly"]
    values = {"ha": f"{check['uncovered']['ha']:.4f}", "mu": f"{check['uncovered']['mu']:.3f}",
              "title_zh": rule["title"]["zh"], "title_en": rule["title"]["en"]}
    text = {lang: t.format(**values) for lang, t in msg.items()}
    if h.nothing_governs:
        check["result"], check["message"] = "undetermined", text
    elif check["result"] != "fail":
        # what is governed does not fail; the rest is unknown, so the check cannot pass
        check["result"] = "undetermined"
        check["message"] = {lang: check["message"][lang] + text[lang] for lang in text}
    else:
        check["message"] = {lang: check["message"][lang] + text[lang] for lang in text}
    return check


def _base(rule: dict, h: Hits, total: float) -> dict[str, Any]:
    overlap = h.union()
    return {
        "id": rule["id"],
        "layer": rule["layer"],
        "title": rule["title"],
        "rule": rule["rule"],
        "overlap": measured(overlap, total),
        "conflict_geometry": to_geojson(overlap),
        "features": _features(h),
    }


def _features(h: Hits, limit: int = 200) -> list[dict[str, Any]]:
    """The overlapping features: ids, drawer, codes with labels, their own overlap area."""
    out = []
    coded = [(f.name, f.label_field) for f in h.layer.fields if f.code_table and f.label_field]
    named = [n for n in ("BSM", "HXMC", "BHMC", "FXMC", "XZQMC") if n in h.columns]
    order = sorted(range(len(h)), key=lambda i: -float(h.part_m2[i]))
    for i in order[:limit]:
        item: dict[str, Any] = {"id": h.fids[i], "plan_id": h.plan_ids[i],
                                "overlap_m2": round(float(h.part_m2[i]), 2)}
        for name in named:
            item[name] = h.columns[name][i]
        for code, label in coded:
            item[code] = h.columns[code][i]
            item[label] = h.columns[label][i]
        out.append(item)
    return out


def _outcome(check: dict, outcome: dict) -> dict:
    check["result"] = outcome["verdict"]
    check["message"] = dict(outcome["message"])
    return check


def _overlap(rule: dict[str, Any], h: Hits, geom: shapely.Geometry, total: float, land_use: str, project_type: str,
             urban: bool, catalogue: Catalogue) -> dict[str, Any]:
    c = _base(rule, h, total)
    if c["overlap"]["m2"] <= 0:
        return _outcome(c, rule["outcomes"]["clear"])
    return _outcome(c, rule["outcomes"]["overlap"][project_type])


def _containment(rule: dict[str, Any], h: Hits, geom: shapely.Geometry, total: float, land_use: str, project_type: str,
                 urban: bool, catalogue: Catalogue) -> dict[str, Any]:
    """Inside, partly or outside the layer's features, over the part of the boundary a plan governs."""
    c = _base(rule, h, total)
    kind = "urban" if urban else "other"
    outside = shapely.difference(h.covered, h.union()) if not h.covered.is_empty else shapely.Polygon()
    c["outside"] = measured(outside, total)
    governed_m2 = float(geodesic_area(h.covered)) if not h.covered.is_empty else 0.0
    share_in = c["overlap"]["m2"] / governed_m2 if governed_m2 > 0 else 0.0
    share_out = c["outside"]["m2"] / total if total > 0 else 0.0
    if governed_m2 <= 0:
        # no plan governs any of it: the check is undetermined (``_coverage`` says so)
        c["result"], c["message"] = "undetermined", {"zh": "", "en": ""}
        return c
    if share_in >= 0.999:
        return _outcome(c, rule["outcomes"]["inside"])
    if share_in > 0:
        limit = rule.get("partly_fail_share")
        if urban and limit is not None and share_out > float(limit):
            out = _outcome(c, rule["outcomes"]["partly_beyond"])
            pct = {"share": f"{share_out * 100:.1f}", "limit": f"{float(limit) * 100:.0f}"}
            out["message"] = {lang: t.format(**pct) for lang, t in out["message"].items()}
            return out
        return _outcome(c, rule["outcomes"]["partly"][kind])
    return _outcome(c, rule["outcomes"]["outside"][kind])


def _zone_use(rule: dict[str, Any], h: Hits, geom: shapely.Geometry, total: float, land_use: str, project_type: str,
              urban: bool, catalogue: Catalogue) -> dict[str, Any]:
    c = _base(rule, h, total)
    zones: dict[str, Any] = {}
    name_field = "GHFQMC"
    for i in range(len(h)):
        zones.setdefault(h.columns[name_field][i], []).append(h.parts[i])
    worst, bad = "pass", []
    c["zones"] = []
    for name, parts in sorted(zones.items()):
        zone_rule = rule["zones"].get(name)
        area = measured(shapely.union_all(parts), total)
        if zone_rule is None:
            verdict = "conditional"  # a zone the rules do not know: say so rather than pass silently
        elif code_matches(land_use, zone_rule.get("allowed", [])):
            verdict = "pass"
        else:
            verdict = zone_rule.get("else", "conditional")
        c["zones"].append({"GHFQMC": name, "result": verdict, "overlap": area})
        if VERDICT_ORDER[verdict] > VERDICT_ORDER[worst]:
            worst = verdict
        if verdict != "pass":
            bad.append(name)
    if not zones:
        return _outcome(c, rule["outcomes"]["none"])
    if worst == "pass":
        return _outcome(c, rule["outcomes"]["allowed"])
    out = _outcome(c, rule["outcomes"][worst])
    out["message"] = {"zh": out["message"]["zh"] + "、".join(bad) + "。",
                      "en": out["message"]["en"] + ", ".join(bad) + "."}
    return out


def _land_use_match(rule: dict[str, Any], h: Hits, geom: shapely.Geometry, total: float, land_use: str,
                    project_type: str, urban: bool, catalogue: Catalogue) -> dict[str, Any]:
    c = _base(rule, h, total)
    inside = c["overlap"]["m2"]
    if inside <= 0:
        return _outcome(c, rule["outcomes"]["outside"])
    mismatch_parts: list[shapely.Geometry] = []
    by_code: dict[tuple[str, str | None], dict[str, Any]] = {}
    for i in range(len(h)):
        code = h.columns["YDYHFLDM"][i] or ""
        edition = h.columns["YDYHBB"][i]
        entry = by_code.setdefault((code, edition), {"YDYHFLDM": code, "YDYHFLMC": h.columns["YDYHFLMC"][i],
                                                     "YDYHBB": edition, "plan_id": h.plan_ids[i], "parts": []})
        entry["parts"].append(h.parts[i])
        # codes are compared within the 2023 edition only; a 2020-edition plan never matches
        if edition != "2023" or not (code.startswith(land_use) or land_use.startswith(code)):
            mismatch_parts.append(h.parts[i])
    c["planned_uses"] = [{k: v for k, v in e.items() if k != "parts"} | {"overlap": measured(
        shapely.union_all(e["parts"]), total)} for e in sorted(by_code.values(), key=lambda e: e["YDYHFLDM"])]
    mismatch = shapely.union_all(mismatch_parts) if mismatch_parts else shapely.Polygon()
    c["mismatch"] = measured(mismatch, total)
    c["mismatch_geometry"] = to_geojson(mismatch)
    share_inside = c["mismatch"]["m2"] / inside if inside else 0.0
    if c["mismatch"]["m2"] <= 0:
        return _outcome(c, rule["outcomes"]["match"])
    if share_inside > rule["fail_share"]:
        return _outcome(c, rule["outcomes"]["fail"])
    return _outcome(c, rule["outcomes"]["conditional"])


def _survey(rule: dict[str, Any], h: Hits, geom: shapely.Geometry, total: float, land_use: str, project_type: str,
            urban: bool, catalogue: Catalogue) -> dict[str, Any]:
    c = _base(rule, h, total)
    table = catalogue.code_tables["sandiao_dlbm"]
    classes: dict[str, list] = {}
    for i in range(len(h)):
        classes.setdefault(h.columns["DLBM"][i], []).append(h.parts[i])
    c["classes"] = []
    for code, parts in sorted(classes.items()):
        entry = table.codes.get(code)
        c["classes"].append({"DLBM": code, "DLMC": entry.zh if entry else None,
                             "group": entry.group if entry else None, "area": measured(shapely.union_all(parts), total)})
    crop = [p for code, parts in classes.items() if code.startswith(rule["cropland_prefix"]) for p in parts]
    c["cropland"] = measured(shapely.union_all(crop) if crop else shapely.Polygon(), total)
    c["balance_required"] = c["cropland"]["m2"] > 0
    return _outcome(c, rule["outcomes"]["cropland" if c["balance_required"] else "no_cropland"])
