"""OGC API - Processes: compliance review, site selection, plan QC, transmission check, statistics, the
三调 汇总表, the evaluation reports, the warnings scan and the land audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onemap.config.catalogue import Catalogue
    from onemap.config.settings import Settings

# process id -> its pygeoapi processor plugin (dotted path)
PROCESSES: dict[str, str] = {
    "compliance-review": "onemap.processes.compliance.ComplianceReviewProcessor",
    "site-selection": "onemap.processes.site_selection.SiteSelectionProcessor",
    "plan-qc": "onemap.processes.plan_qc.PlanQcProcessor",
    "transmission-check": "onemap.processes.transmission.TransmissionCheckProcessor",
    "statistics": "onemap.processes.statistics.StatisticsProcessor",
    "land-use-summary": "onemap.processes.land_use_summary.LandUseSummaryProcessor",
    "status-evaluation": "onemap.processes.evaluation.StatusEvaluationProcessor",
    "implementation-evaluation": "onemap.processes.evaluation.ImplementationEvaluationProcessor",
    "city-health-check": "onemap.processes.evaluation.CityHealthCheckProcessor",
    "warnings-scan": "onemap.processes.warning_scan.WarningScanProcessor",
    "compare": "onemap.processes.compare.CompareProcessor",
    "land-audit": "onemap.processes.land_audit.LandAuditProcessor",
    "change-detection": "onemap.processes.change_detection.ChangeDetectionProcessor",
}


def check_rule_files(settings: Settings, catalogue: Catalogue) -> None:
    """The rule files of the processes (``ONEMAP_COMPLIANCE_RULES``, ``ONEMAP_QC_RULES``, transmission),
    read and checked against the catalogue: a mistake is a ConfigError when the server starts and in
    ``onemap config validate``, not at the first request that needs the file."""
    from pathlib import Path

    from onemap.config.land_audit import load_land_audit_rules

    from .compliance import check_rules_against, load_rules
    from .qc.config import DEFAULT_PATH, load_qc_config
    from .transmission import load_rules as load_transmission_rules

    check_rules_against(load_rules(Path(settings.processes.compliance_rules)), catalogue)
    load_qc_config(catalogue, settings.processes.qc_rules or DEFAULT_PATH)
    load_transmission_rules()
    load_land_audit_rules(Path(settings.processes.land_audit_rules))


def load_processors(store_url: str) -> dict:
    """One processor object per process (they hold no per-request state)."""
    from pygeoapi.plugin import load_plugin

    out = {}
    for pid, path in PROCESSES.items():
        out[pid] = load_plugin("process", {"name": path, "data": store_url})
    return out
