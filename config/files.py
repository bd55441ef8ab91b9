"""Reading the project's YAML configuration files, with one error for every way that fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed file; a missing or malformed file is a ConfigError naming ``what`` it holds."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the {what} {path}: {err}") from err
