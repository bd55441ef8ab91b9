"""The drawer domain (抽屉): plans, their dates in force and recorded, regions, and which plan governs.

The bottom of OneMap: the store, the processes, the tiles and the server import it; it imports
nothing of OneMap's but the error hierarchy (``onemap.config.errors``, a leaf module).
"""

from .dates import When, parse_recorded, parse_when, today
from .governing import GoverningPart, chain_at, governing_parts, specificity, upper_candidates
from .plans import (
                    FILED_STATES,
                    LEVELS,
                    PLAN_LEVELS,
                    PLAN_STATUSES,
                    PLAN_TYPES,
                    Drawer,
                    Event,
                    Period,
                    Plan,
                    registry_at,
)
from .regions import check_region, region_covers, region_prefix

__all__ = [
    "FILED_STATES", "LEVELS", "PLAN_LEVELS", "PLAN_STATUSES", "PLAN_TYPES", "Drawer", "Event", "GoverningPart",
    "Period", "Plan", "When", "chain_at", "check_region", "governing_parts", "parse_recorded", "parse_when",
    "region_covers", "region_prefix", "registry_at", "specificity", "today", "upper_candidates",
]
