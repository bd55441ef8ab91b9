"""OGC API - Processes: compliance review, site selection, plan QC, transmission check."""
