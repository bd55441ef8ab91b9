"""plan-qc (成果质检): the quality check of a drawer entry or of a submitted package.

Runs the rules of config/qc.yaml (processes/qc/) and returns the report as JSON (default), as a
printable HTML page, and the findings' locations as a GeoPackage. A clean ``submitted`` entry
moves to ``checked`` (by "plan-qc"); an entry with error findings stays ``submitted``.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pyogrio

from onemap.config.catalogue import PLAN_LEVELS, PLAN_TYPES
from onemap.config.errors import Conflict, InvalidInput, NotFound
from onemap.config.settings import Settings
from onemap.domain.plans import validate_level
from onemap.providers.store import Store

from .base import OneMapProcessor, Output, RunContext
from .certificates import RECORDED_INPUT, pinned_recorded

GPKG_MEDIA = "application/geopackage+sqlite3"
MAX_PACKAGE_CHARS = 40_000_000  # base64 characters (the execute request itself is limited to 30 MB)
CHECKABLE = ("submitted", "checked")


def _package_bytes(value: str) -> tuple[bytes, str]:
    """The package's bytes and its suffix (.gpkg or .zip, told by its first bytes)."""
    try:
        data = base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("input 'package' is not base64") from None
    if data.startswith(b"SQLite format 3\x00"):
        return data, ".gpkg"
    if data.startswith(b"PK\x03\x04"):
        return data, ".zip"
    raise InvalidInput("input 'package' must be a GeoPackage or a zip of Shapefiles or of a File Geodatabase")


class PlanQcProcessor(OneMapProcessor):
    """成果质检 / plan quality check."""

    METADATA: ClassVar[dict[str, Any]] = {
        "version": "1.0.0",
        "id": "plan-qc",
        "title": {"zh": "成果质检", "en": "Plan quality check"},
        "description": {
            "zh": "按国土空间规划数据库规范检查规划成果：完整性（必选图层、字段、必填值）、数学基础（CGCS2000 与投影带）、"
                  "拓扑（无重叠、无缝隙、几何有效、无碎图斑与尖锐角、三条控制线互不重叠且位于规划范围内）、属性值域"
                  "（代码表、代码与名称一致、要素代码、标识码唯一、行政区代码、三调城镇村属性码）与面积一致性（椭球面积、"
                  "面积闭合）。每个问题给出规则、级别、图层、要素、位置、实测值与要求。已提交的抽屉条目无错误时转为“已质检”。",
            "en": "Checks a plan against the national database specification: completeness (required layers, "
                  "fields, mandatory values), mathematical basis (CGCS2000 and the projection zone), topology (no "
                  "overlaps, no gaps, valid geometry, no slivers or spikes, the three control lines apart and "
                  "inside the region), attribute domains (code tables, code/name, YSDM, unique BSM, region "
                  "codes, the land survey's urban/village attribute) and areas (geodesic areas, sums). Each "
                  "finding names its rule, severity, layer, feature, location, measured and expected value. A "
                  "submitted drawer entry with no error findings moves to 'checked'.",
        },
        "keywords": ["成果质检", "quality check", "国土空间规划"],
        "jobControlOptions": ["sync-execute", "async-execute"],
        "outputTransmission": ["value"],
        "inputs": {
            "plan_id": {
                "title": "抽屉条目 / Drawer entry",
                "description": "The id of a submitted (or checked) drawer entry, e.g. 990121-county-master-2024.",
                "schema": {"type": "string", "maxLength": 64, "pattern": r"^[0-9A-Za-z._-]+$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "package": {
                "title": "成果包 / Package",
                "description": "A GeoPackage, or a zip of Shapefiles or of a File Geodatabase, base64-encoded; "
                               "layers named by table code. Give region, level and type with it.",
                "schema": {"type": "string", "contentEncoding": "base64", "maxLength": MAX_PACKAGE_CHARS},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "region": {
                "title": "行政区代码 / Region code",
                "schema": {"type": "string", "pattern": r"^[0-9]{2,12}$"},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "level": {
                "title": "规划层级 / Plan level",
                "schema": {"type": "string", "enum": list(PLAN_LEVELS)},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "type": {
                "title": "规划类型 / Plan type",
                "schema": {"type": "string", "enum": list(PLAN_TYPES)},
                "minOccurs": 0, "maxOccurs": 1,
            },
            "recorded": RECORDED_INPUT,
        },
        "outputs": {
            "report": {
                "title": "质检报告 / Report",
                "schema": {"type": "object", "contentMediaType": "application/json"},
            },
            "report_html": {
                "title": "质检报告（可打印） / Printable report",
                "schema": {"type": "string", "contentMediaType": "text/html"},
                "default": False,
            },
            "errors": {
                "title": "问题位置 / Findings as a GeoPackage",
                "schema": {"type": "string", "contentEncoding": "binary", "contentMediaType": GPKG_MEDIA},
                "default": False,
            },
        },
        "example": {"inputs": {"plan_id": "990121-county-master-2024"}},
    }

    def __init__(self, processor_def: dict, process_metadata: dict | None = None) -> None:
        super().__init__(processor_def, process_metadata)
        from onemap.config.catalogue import get_catalogue

        from .qc import load_qc_config

        load_qc_config(get_catalogue())  # a broken rule file (ONEMAP_QC_RULES) stops the server at start-up

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        """Before anything is queued: one subject, a checkable entry or a readable package with its drawer."""
        has_plan, has_package = bool(inputs.get("plan_id")), bool(inputs.get("package"))
        if has_plan == has_package:
            raise InvalidInput("give either 'plan_id' (a drawer entry) or 'package' (with region, level and type)")
        if has_plan:
            if any(inputs.get(k) for k in ("region", "level", "type")):
                raise InvalidInput("'region', 'level' and 'type' go with 'package'; a drawer entry has its own")
            if store is not None:
                plan = store.plan(inputs["plan_id"])
                if plan is None:
                    raise NotFound(f"no drawer entry {inputs['plan_id']!r}")
                if plan.status not in CHECKABLE:
                    raise Conflict(f"{plan.id} is {plan.status}: only submitted or checked entries are checked")
            return
        missing = [k for k in ("region", "level", "type") if not inputs.get(k)]
        if missing:
            raise InvalidInput(f"a package needs {', '.join(repr(k) for k in missing)} too")
        validate_level(inputs["region"], inputs["level"], inputs["type"])
        _package_bytes(inputs["package"])

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        from .qc import check_package, check_plan
        from .qc.lifecycle import certify, mark_if_clean
        from .qc.report import gpkg_bytes

        def progress(stage: str, fraction: float) -> None:
            ctx.progress(int(3 + 87 * fraction), stage)

        ctx.progress(2, "reading")
        recorded = pinned_recorded(inputs.get("recorded"), ctx.settings.timezone)
        if inputs.get("plan_id"):
            plan = ctx.store.plan(inputs["plan_id"], recorded)
            if plan is None:
                raise NotFound(f"no drawer entry {inputs['plan_id']!r}")
            if plan.status not in CHECKABLE:
                raise Conflict(f"{plan.id} is {plan.status}: only submitted or checked entries are checked")
            result = check_plan(ctx.store, plan.id, progress=progress, recorded=recorded)
        else:
            data, suffix = _package_bytes(inputs["package"])
            with tempfile.TemporaryDirectory(prefix="onemap-plan-qc-") as tmp:
                path = Path(tmp) / f"package{suffix}"
                path.write_bytes(data)
                try:
                    result = check_package(path, region=inputs["region"], level=inputs["level"],
                                           type_=inputs["type"], catalogue=ctx.store.catalogue, store=ctx.store,
                                           progress=progress, workdir=tmp, recorded=recorded)
                except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
                    # GDAL could not read it: a client's broken file, not a server error
                    raise InvalidInput("the package cannot be read as a GeoPackage, Shapefiles or File "
                                       "Geodatabase") from None
        ctx.progress(92, "writing the report")
        doc, report_html = certify(ctx, result, inputs, recorded)
        # the registry moves after the check is on record (a clean submission becomes checked)
        moved, what = mark_if_clean(ctx.store, result, ctx.settings.timezone, by=ctx.owner)
        doc["registry"] = {"status": moved.status if moved is not None else result.subject.get("status"),
                           "moved": moved is not None, "note": what}
        out: dict[str, Output] = {}
        if "report" in outputs:
            out["report"] = Output("application/json", doc)
        if "report_html" in outputs:
            out["report_html"] = Output("text/html", report_html)
        if "errors" in outputs:
            out["errors"] = Output(GPKG_MEDIA, gpkg_bytes(result))
        return out
