#!/usr/bin/env bash
# The lint gate CI runs: ruff (pyproject.toml's [tool.ruff]) on everything, mypy on the package, and
# vulture for dead code. The package's modules live in top-level folders mapped to onemap.* at
# install time; mypy does not run the editable install's import hook, so it reads them through a
# tree of links named as they are imported (.lint/onemap/...).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
.venv/bin/ruff check .
rm -rf .lint && mkdir -p .lint/onemap
for d in domain server config providers processes tiles; do ln -s "../../$d" ".lint/onemap/$d"; done
# an __init__ for mypy only (onemap is a namespace package at run time): without it mypy takes the data
# folders tiles/tms/ and config/codes/ for the modules tms.py and codes.py (python/mypy#13663)
touch .lint/onemap/__init__.py
(cd .lint && ../.venv/bin/mypy --config-file ../pyproject.toml -p onemap)
.venv/bin/vulture --config pyproject.toml
