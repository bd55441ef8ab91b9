"""Review certificates: every compliance review, quality check and transmission check, kept for good.

A certificate is the result document with everything needed to reproduce it: the inputs, the
dates asked (``date``: in force on; ``recorded``: the registry as it stood at the run's instant),
the plans used with their versions and package checksums, the hashes of the rule files, and the
software versions. It is written once, never purged with its job, and answers at
``/certificates/{id}`` (JSON and HTML) as it was written. Running the process again with the
certificate's ``rerun`` inputs gives the same result (``same_result``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from onemap.domain.dates import parse_recorded
from onemap.domain.plans import Plan

RECORDED_INPUT = {
    "title": "登记时点 / Registry as recorded at",
    "description": "Read the registry as it stood at this date (end of that day) or date-time; default: the "
                   "instant the process runs (pinned in the certificate, so that a re-run gives the same "
                   "result).",
    "schema": {"type": "string", "maxLength": 40},
    "minOccurs": 0, "maxOccurs": 1,
}


@lru_cache(maxsize=1)
def software() -> dict[str, str]:
    """The versions that decide a result: OneMap's, and the geometry and geodesy libraries'."""
    import pyproj
    import shapely

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {"onemap": version("onemap"), "pygeoapi": version("pygeoapi"), "shapely": shapely.__version__,
            "geos": shapely.geos_version_string, "pyproj": pyproj.__version__, "proj": pyproj.proj_version_str}


def file_hashes(paths: Iterable[Path | str]) -> dict[str, str]:
    """SHA-256 of each rule file, by file name."""
    out = {}
    for p in paths:
        path = Path(p)
        out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def pinned_recorded(value: str | None, tz: str) -> dt.datetime:
    """The instant a run reads the registry as of: the one asked for, or now (pinned)."""
    recorded = parse_recorded(value, tz) if value else None
    return recorded or dt.datetime.now(dt.UTC)


def plan_entry(plan: Plan, role: str) -> dict[str, Any]:
    """How a certificate names a plan it used."""
    return {"id": plan.id, "role": role, "region": plan.region, "level": plan.level, "type": plan.type,
            "subject": plan.subject, "version": plan.version, "status": plan.status,
            "approval_no": plan.approval_no, "checksum": plan.checksum,
            "valid_from": plan.valid_from.isoformat() if plan.valid_from else None,
            "valid_to": plan.valid_to.isoformat() if plan.valid_to else None}


def reference(ctx: Any, process_id: str) -> dict[str, str]:
    """A new certificate's id and URL, for the result (and its report) to carry before it is archived."""
    cert_id = f"{process_id}-{uuid.uuid4().hex[:16]}"
    base = (ctx.settings.public_url or "").rstrip("/")
    return {"id": cert_id, "href": f"{base}/certificates/{cert_id}"}


def archive(ctx: Any, ref: dict[str, str], process_id: str, inputs: dict[str, Any], *, date: str | None,
            recorded: dt.datetime, plans: list[dict[str, Any]], rules: dict[str, str], result: dict[str, Any],
            subject_plan_id: str | None = None, html: str | None = None, pins_registry: bool = True) -> None:
    """Write the certificate ``ref`` (from ``reference``) of one result, for good. ``pins_registry``: the
    process takes a ``recorded`` input, which the rerun pins to the instant read (a process that reads the
    registry as it stands records the instant, and its rerun asks again)."""
    cert_id = ref["id"]
    created = dt.datetime.now(dt.UTC)
    rerun = dict(inputs)
    if date is not None:
        rerun["date"] = date
    if pins_registry:
        rerun["recorded"] = recorded.isoformat()
    doc = {
        "id": cert_id,
        "process": process_id,
        "created": created.isoformat(),
        "software": software(),
        "rules": rules,
        "inputs": inputs,
        "date": date,
        "recorded": recorded.isoformat(),
        "plans": sorted(plans, key=lambda p: (p["role"], p["id"])),
        "rerun": {"process": process_id, "inputs": rerun},
        "result": result,
    }
    ctx.store.add_certificate(cert_id, process_id, subject_plan_id, created,
                              json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str), html,
                              owner=getattr(ctx, "owner", None))


def certificate_html(store: Any, settings: Any, cert_id: str) -> str | None:
    """A certificate's report: as archived, or, for a review archived without one, made once from its
    pinned inputs (the registry as recorded then, features that never change) and kept from then on."""
    found = store.certificate(cert_id)
    if found is None:
        return None
    document, html = found
    if html:
        return html
    doc = json.loads(document)
    if doc.get("process") != "compliance-review":
        return None
    import time

    from .base import RunContext
    from .compliance import ComplianceReviewProcessor
    from .report import compliance_html

    ctx = RunContext(store, settings, time.monotonic() + 600)
    boundary = ComplianceReviewProcessor._boundary(doc["inputs"], settings)
    recorded = dt.datetime.fromisoformat(doc["recorded"])
    html = compliance_html(ctx, boundary, doc["result"], recorded)
    store.set_certificate_html(cert_id, html)
    return store.certificate(cert_id)[1]


def same_result(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two results of one process agree (the certificate each refers to aside)."""
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k != "certificate"}

    return json.dumps(strip(a), sort_keys=True, default=str) == json.dumps(strip(b), sort_keys=True, default=str)


__all__ = ["RECORDED_INPUT", "archive", "certificate_html", "file_hashes", "pinned_recorded", "plan_entry", "reference", "same_result", "software"]
