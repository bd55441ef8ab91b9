#!/usr/bin/env bash
# Install everything the tests need (system packages, .venv with the test extras, the
# browser test's npm packages) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
deploy/system-packages.sh
deploy/venv.sh test
# puppeteer-core for the browser test; it drives Debian's Chromium and downloads no browser
(cd tests/browser && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
# the lint gate first: ruff, mypy and vulture with zero findings (deploy/lint.sh)
deploy/lint.sh
export ONEMAP_REQUIRE_BROWSER=1
exec .venv/bin/python -m pytest "$@"
