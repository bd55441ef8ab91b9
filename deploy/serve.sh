#!/usr/bin/env bash
# Install OneMap into .venv and serve the embedded GeoPackage (the demo region is made on
# first start). Extra arguments go to `onemap serve`, e.g. --bind 127.0.0.1:8080.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
deploy/venv.sh
# nginx in front keeps slow clients from holding gunicorn's workers (server/front.py); without root
# to install it, onemap serve says so and serves with gunicorn alone; a CJK font labels the maps'
# legends in Chinese (without one they are labelled in English)
deploy/system-packages.sh nginx fonts-wqy-microhei || true
exec .venv/bin/onemap serve "$@"
