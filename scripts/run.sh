#!/usr/bin/env bash
# Install what is missing, then start the app on http://localhost:${PORT:-8501}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
. "${DLSA_VENV:-.venv}/bin/activate"
exec streamlit run app.py --server.address "${HOST:-localhost}" --server.port "${PORT:-8501}" "$@"
