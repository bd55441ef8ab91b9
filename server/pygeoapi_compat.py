"""The few places where OneMap changes pygeoapi 0.24's behaviour in-process, and why.

pygeoapi's ``to_json`` (used by every API function and by its HTML templates) writes
Chinese as ``\\uXXXX`` and replaces ``<`` and ``>`` with ``&lt;``/``&gt;`` inside JSON
strings, which corrupts data values. OneMap swaps in a serialiser that writes UTF-8 and
escapes ``<`` as ``\\u003c`` (the same protection for JSON embedded in HTML, without
changing any value). The function is looked up by name in each pygeoapi module, so the
replacement is installed in each module that imported it.
"""

from __future__ import annotations

import importlib
import json

from pygeoapi.util import json_serial

_PATCHED = False
_MODULES = (
    "pygeoapi.util", "pygeoapi.api", "pygeoapi.api.itemtypes", "pygeoapi.api.processes",
    "pygeoapi.api.tiles", "pygeoapi.api.collection", "pygeoapi.api.maps", "pygeoapi.api.coverages",
    "pygeoapi.api.environmental_data_retrieval", "pygeoapi.api.stac", "pygeoapi.api.pubsub",
)


def to_json(dict_: dict, pretty: bool = False) -> str:
    """pygeoapi's ``to_json`` contract, with readable Chinese and lossless ``<``."""
    out = json.dumps(dict_, default=json_serial, indent=4 if pretty else None,
                     separators=(",", ":") if not pretty else None, ensure_ascii=False)
    return out.replace("<", "\\u003c").replace(">", "\\u003e")


def install() -> None:
    """Install the patches once per process (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    for name in _MODULES:
        mod = importlib.import_module(name)
        if hasattr(mod, "to_json"):
            mod.to_json = to_json
    _PATCHED = True
