"""The dependency direction of docs/ARCHITECTURE.md: server -> processes -> providers -> (tiles, config)
-> domain. Every import in the package, at the top of a module or inside a function, is checked."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

# what each folder may import from (besides itself); config.errors is a leaf anyone may use
ALLOWED = {
    "domain": set(),
    "config": {"domain"},
    "tiles": {"config", "domain"},
    "providers": {"tiles", "config", "domain"},
    "processes": {"providers", "tiles", "config", "domain"},
    "server": {"processes", "providers", "tiles", "config", "domain"},
}


def _imports(path: Path, package: list[str]) -> list[tuple[int, str]]:
    """(line, dotted onemap module) of every import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("onemap.")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(["onemap", *base, *(node.module.split(".") if node.module else [])])
                names = [f"{mod}.{a.name}" for a in node.names] if not node.module else [mod]
                out += [(node.lineno, n) for n in names]
            elif node.module and node.module.startswith("onemap."):
                out.append((node.lineno, node.module))
    return out


def test_no_module_imports_against_the_direction():
    wrong = []
    for top, allowed in ALLOWED.items():
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("").parts
            package = list(rel[:-1])  # the folder a module (or an __init__) is in
            for line, target in _imports(path, package):
                parts = target.split(".")
                folder = parts[1]
                if folder == top or folder in allowed or parts[1:3] == ["config", "errors"]:
                    continue
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_config_errors_is_a_leaf():
    assert not _imports(ROOT / "config" / "errors.py", ["config"])
