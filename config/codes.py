"""Code tables: code -> Chinese and English labels, loaded from config/codes/."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .files import read_yaml


@dataclass(frozen=True)
class Code:
    code: str
    zh: str
    en: str | None = None
    parent: str | None = None
    group: str | None = None
    source: str | None = None  # where this row came from, when the table says so per row
    confidence: str | None = None  # HIGH / MEDIUM / LOW / UNVERIFIED, per row

    def label(self, lang: str = "zh") -> str:
        return (self.en or self.zh) if lang == "en" else self.zh


@dataclass
class CodeTable:
    """One code table; ``match_by_name`` tables are checked by their label, not their code."""

    id: str
    title: dict
    edition: str | None = None
    source: str | None = None
    confidence: str | None = None
    match_by_name: bool = False
    codes: dict[str, Code] = field(default_factory=dict)

    def __contains__(self, code: str) -> bool:
        return code in self.codes

    def label(self, code: str | None, lang: str = "zh") -> str | None:
        c = self.codes.get(code) if code is not None else None
        return None if c is None else c.label(lang)

    def by_name(self, name: str) -> Code | None:
        for c in self.codes.values():
            if c.zh == name:
                return c
        return None

    def names(self) -> set[str]:
        return {c.zh for c in self.codes.values()}


_CODE_RE = re.compile(r"^[0-9A-Za-z]{1,8}$")


def load_code_tables(codes_dir: Path, inline: dict | None = None) -> dict[str, CodeTable]:
    """Read ``index.yaml`` and every table it lists; inline tables come from the catalogue."""
    index_path = codes_dir / "index.yaml"
    index = read_yaml(index_path, "code table index")
    tables: dict[str, CodeTable] = {}
    for tid, spec in (index.get("tables") or {}).items():
        path = codes_dir / spec["file"]
        table = CodeTable(
            id=tid,
            title=spec.get("title") or {"zh": tid, "en": tid},
            edition=spec.get("edition"),
            source=spec.get("source"),
            confidence=spec.get("confidence"),
            match_by_name=bool(spec.get("match_by_name", False)),
        )
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                for i, row in enumerate(csv.DictReader(fh), start=2):
                    code = (row.get(spec["code"]) or "").strip()
                    zh = (row.get(spec["label_zh"]) or "").strip()
                    if not zh:
                        raise ConfigError(f"{path.name} line {i}: empty label")
                    if not code:
                        if table.match_by_name:
                            # a named zone with no code yet (e.g. level-3 zones): keyed by name
                            code = zh
                        else:
                            raise ConfigError(f"{path.name} line {i}: empty code")
                    elif not _CODE_RE.match(code):
                        raise ConfigError(f"{path.name} line {i}: malformed code {code!r}")
                    table.codes[code] = Code(
                        code=code,
                        zh=zh,
                        en=(row.get(spec.get("label_en", ""), "") or "").strip() or None,
                        parent=(row.get(spec.get("parent", ""), "") or "").strip() or None,
                        group=(row.get(spec.get("group", ""), "") or "").strip() or None,
                        source=(row.get(spec.get("row_source", ""), "") or "").strip() or None,
                        confidence=(row.get(spec.get("row_confidence", ""), "") or "").strip() or None,
                    )
        except OSError as err:
            raise ConfigError(f"cannot read code table {tid} ({path.name}): {err.strerror}") from err
        except KeyError as err:
            raise ConfigError(f"code table {tid}: column {err} missing in {path.name}") from err
        if not table.codes:
            raise ConfigError(f"code table {tid} ({path.name}) is empty")
        tables[tid] = table
    for tid, spec in (inline or {}).items():
        table = CodeTable(id=tid, title=spec.get("title") or {"zh": tid, "en": tid})
        for code, labels in spec["codes"].items():
            table.codes[str(code)] = Code(code=str(code), zh=labels["zh"], en=labels.get("en"))
        tables[tid] = table
    return tables
