"""The registry rule of the quality check: a clean check moves a ``submitted`` entry to ``checked``.

This is the one place that calls ``Registry.mark_checked`` (the CLI's ``onemap check --plan`` and
the ``plan-qc`` process both come here); an entry with error findings stays ``submitted``, and the
registry refuses to approve an entry that is not ``checked``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from onemap.config.errors import Conflict
from onemap.providers.registry import Registry
from onemap.providers.store.base import Plan, Store

from ..certificates import archive, file_hashes, plan_entry, reference
from .config import qc_rule_files
from .engine import QcResult

QC_ACTOR = "plan-qc"


def mark_if_clean(store: Store, result: QcResult, tz: str = "Asia/Shanghai",
                  by: str | None = None) -> tuple[Plan | None, str]:
    """Move the checked entry to ``checked`` when it was ``submitted`` and has no error findings;
    ``by``: the person who asked for the check (else the move is recorded as the ``plan-qc`` process's).

    Returns (the entry after the move or None, what happened in words).
    """
    plan_id = result.subject.get("plan_id")
    if result.subject.get("kind") != "plan" or not plan_id:
        return None, "a package, not a drawer entry: the registry is not changed"
    plan = store.plan(plan_id)
    if plan is None:
        return None, f"{plan_id} no longer exists"
    if not result.passed:
        return None, f"{plan_id} stays {plan.status}: the check found {result.errors} errors"
    if plan.status != "submitted":
        return None, f"{plan_id} is {plan.status}; only a submitted entry moves to checked"
    try:
        moved = Registry(store, tz).mark_checked(plan_id, by or QC_ACTOR, result.summary())
    except Conflict as err:  # another process moved it meanwhile
        return None, err.description
    return moved, f"{plan_id} moved from submitted to checked"


def certify(ctx: Any, result: QcResult, inputs: dict[str, Any], recorded: dt.datetime) -> tuple[dict[str, Any], str]:
    """The report of a check as JSON and HTML, archived as a certificate before the registry moves."""
    from .report import html, to_json

    doc = to_json(result)
    doc["recorded"] = recorded.isoformat()
    ref = doc["certificate"] = reference(ctx, "plan-qc")
    report_html = html(result, doc)
    plan_id = result.subject.get("plan_id") if result.subject.get("kind") == "plan" else None
    subject = ctx.store.plan(plan_id, recorded) if plan_id else None
    archive(ctx, ref, "plan-qc", {k: v for k, v in inputs.items() if k != "recorded"}, date=None,
            recorded=recorded, plans=[plan_entry(subject, "subject")] if subject is not None else [],
            rules=file_hashes(qc_rule_files(ctx.store.catalogue)), result=doc,
            subject_plan_id=subject.id if subject is not None else None, html=report_html)
    return doc, report_html
