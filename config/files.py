"""Reading the project's YAML configuration files, with one error for every way that fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed file; a missing or malformed file is a ConfigError naming ``what`` it holds (and the file by
    its name: the message may reach a client, which is not told where the server keeps its files)."""
    name = Path(path).name
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read the {what} {name}: {err.strerror or type(err).__name__}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"the {what} {name} is not valid YAML: {err}") from err


def first_error(err: ValidationError) -> str:
    """``where: what`` of a pydantic error's first problem (one sentence, as every configuration error is)."""
    first = err.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def validated[M: BaseModel](model: type[M], raw: Any, name: str) -> M:
    """``raw`` as ``model``; a ConfigError naming the file (``name``) and the first problem otherwise."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{name}: {first_error(err)}") from err
