"""OGC API - Processes: compliance review, site selection, plan QC, transmission check."""

# process id -> its pygeoapi processor plugin (dotted path)
PROCESSES: dict[str, str] = {
    "compliance-review": "onemap.processes.compliance.ComplianceReviewProcessor",
    "site-selection": "onemap.processes.site_selection.SiteSelectionProcessor",
    "plan-qc": "onemap.processes.plan_qc.PlanQcProcessor",
    "transmission-check": "onemap.processes.transmission.TransmissionCheckProcessor",
}


def load_processors(store_url: str) -> dict:
    """One processor object per process (they hold no per-request state)."""
    from pygeoapi.plugin import load_plugin

    out = {}
    for pid, path in PROCESSES.items():
        out[pid] = load_plugin("process", {"name": path, "data": store_url})
    return out
