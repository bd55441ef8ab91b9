"""Administrative regions (GB/T 2260 division codes): which region covers which."""

from __future__ import annotations

from onemap.config.errors import InvalidParameterValue


def region_prefix(code: str) -> str:
    """The prefix a region's code gives its sub-regions (GB/T 2260: drop trailing zero pairs).

    ``990000`` -> ``99``, ``990100`` -> ``9901``, ``990102`` -> ``990102``,
    ``990102001`` -> ``990102001``.
    """
    if not code.isdigit() or len(code) not in (2, 4, 6, 9, 12):
        raise InvalidParameterValue(
            f"region {code!r} is not an administrative division code (6, 9 or 12 digits)"
        )
    p = code
    # Province, prefecture and county parts are two digits each; township and village three.
    while len(p) > 2 and len(p) <= 6 and p.endswith("00"):
        p = p[:-2]
    if len(p) in (9, 12):
        while len(p) > 6 and p.endswith("000"):
            p = p[:-3]
    return p


def region_covers(region: str, other: str) -> bool:
    """Does ``region`` cover ``other`` (itself or a region under it)?"""
    return other.startswith(region_prefix(region))


def check_region(code: str) -> str:
    """A ``region`` parameter: a 6, 9 or 12 digit division code (400 otherwise)."""
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise InvalidParameterValue(f"region {code!r} is not a 6, 9 or 12 digit administrative division code")
    region_prefix(code)
    return code
