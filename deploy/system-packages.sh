#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: GDAL's command-line clients, PostgreSQL 15 with
# PostGIS 3, Chromium and Node.js for the browser test of /map (tests/browser/), the load
# generator wrk (bench/compare.py), nginx (in front of `onemap serve`, server/front.py) and a CJK
# font for the Chinese labels of rendered legends (server/map_render.py). With arguments, installs
# just those packages.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail
pkgs=(gdal-bin postgresql-15 postgresql-15-postgis-3 chromium wrk nginx fonts-wqy-microhei)
[ $# -gt 0 ] && pkgs=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js by command, not by package: a NodeSource nodejs (which bundles npm) conflicts with
# Debian's npm package, and any node >= 18 with npm will do.
if [ $# -eq 0 ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  dpkg -s nodejs >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
