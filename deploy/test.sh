#!/usr/bin/env bash
# Install everything the tests need (system packages, .venv with the test extras) and run
# the whole test suite. Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
deploy/system-packages.sh
deploy/venv.sh test
exec .venv/bin/python -m pytest "$@"
