#!/usr/bin/env bash
# Install what is missing (Python packages; Debian chromium and dataset-fashion-mnist when root),
# then lint and run the whole test suite, browser tests included. Extra arguments go to pytest,
# e.g. `scripts/test.sh -m "not e2e"` for the quick loop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# shellcheck disable=SC1091
. "${DLSA_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1 DLSA_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1

echo "== ruff"
ruff check .
ruff format --check .
echo "== the core imports without Streamlit"
python -c "import dlsa_core, dlsa_core.device, dlsa_core.data, dlsa_core.weights, sys; assert 'streamlit' not in sys.modules"
echo "== pytest"
python -m pytest -ra "$@"
