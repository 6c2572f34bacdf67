#!/usr/bin/env bash
# Create (or reuse) the virtual environment and install what is missing. Safe to run repeatedly:
# the pip step is skipped while pyproject.toml and the requested extras are unchanged.
#
#   scripts/setup.sh            # app dependencies
#   scripts/setup.sh test       # + test tools (pytest, playwright, ruff); as root also apt packages
#
# torch: a pinned CPU wheel (torch==2.13.0) is installed first, unless a torch is already importable
# by the Python that creates the environment — then the environment sees it (--system-site-packages),
# so a GPU user keeps their CUDA build. Override the pin with DLSA_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${DLSA_VENV:-.venv}
EXTRAS=${1:-}
TORCH_SPEC=${DLSA_TORCH_SPEC:-torch==2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
  if "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "setup: using the torch that $PY already has ($("$PY" -c 'import torch; print(torch.__version__)'))"
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

if ! python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing $TORCH_SPEC"
  python -m pip install --quiet "$TORCH_SPEC"
fi

if [ "$EXTRAS" = "test" ]; then
  spec=".[test,train]"
else
  spec=".[train]"
fi
stamp="$VENV/.dlsa-install-stamp"
want="$(sha256sum pyproject.toml | cut -c1-64) $spec"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing dlsa and its dependencies ($spec)"
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
else
  echo "setup: environment $VENV is up to date"
fi

if [ "$EXTRAS" = "test" ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
  # the page icons are emoji: without a colour-emoji font headless Chromium draws boxes in screenshots
  fc-list 2>/dev/null | grep -qi emoji || missing+=(fonts-noto-color-emoji)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "setup: please install these Debian packages (as root): ${missing[*]}" >&2
    fi
  fi
fi
