#!/usr/bin/env bash
# Find a Python >= 3.12 (pygeoapi 0.24 needs it): PATH first, then pyenv's versions.
# Prints the interpreter's path; exits 1 with advice when there is none.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for cand in python3.12 python3.13 python3 python; do
  p=$(command -v "$cand" 2>/dev/null) || continue
  # a pyenv shim answers "command not found" unless its version is selected: ok() runs it
  if ok "$p"; then echo "$p"; exit 0; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
# 3.12 first (the version the stack was measured with), then newer ones
for p in $(ls -d "$root"/versions/3.12*/bin/python3 2>/dev/null | sort -rV) \
         $(ls -d "$root"/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -rV); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "OneMap needs Python 3.12 or newer and none was found on PATH or under pyenv." >&2
echo "Install one, e.g. 'pyenv install 3.12' or your system's python3.12 package, then retry." >&2
exit 1
