#!/usr/bin/env bash
# Train an experiment, then run inference and interpolation.
# Usage: ./scripts/run_exp.sh EXP_DIR GPU_NUMBER
set -euo pipefail
if [ "$#" -lt 1 ]; then echo "usage: $0 EXP_DIR [GPU_NUMBER]" >&2; exit 2; fi
here="$(cd "$(dirname "$0")" && pwd)"
"$here/run_train.sh" "$1" "${2:-0}"
"$here/run_inference.sh" "$1" "${2:-0}"
"$here/run_interpolation.sh" "$1" "${2:-0}"
