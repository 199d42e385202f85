#!/usr/bin/env bash
# Create .ls-venv (Label Studio in its own environment, apart from .venv: it pins
# Django and many packages imhi does not need) unless it already works.
# Usage: bash scripts/label_studio.sh     prints the path of the label-studio executable.
# Set IMHI_LS_VENV to put it elsewhere, IMHI_LS_SPEC to choose another version.
# About 2 minutes and 1 GB the first time; nothing the second.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${IMHI_LS_VENV:-.ls-venv}"
spec="${IMHI_LS_SPEC:-label-studio>=1.20,<2}"
exe="$venv/bin/label-studio"
if [ ! -x "$exe" ] || ! "$venv/bin/python" -c "import label_studio" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q "$spec" >&2
fi
echo "$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")"
