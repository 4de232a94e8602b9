#!/usr/bin/env bash
# Set up .venv with xlcorpus and every extra (idempotent: reinstalls only when pyproject.toml changes).
# torch==2.13.0 (a CPU wheel on this kind of machine) is installed first so that no CUDA build is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
quiet() { { grep -v -E '^WARNING: Location|^\s*$' || true; }; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.xlcorpus-installed
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setting up .venv (torch 2.13.0 CPU first, then xlcorpus[all]) ..."
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet
  .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | quiet
  .venv/bin/python -m pip install -q -e ".[all]" 2>&1 | quiet
  echo "$want" > "$stamp"
fi
