#!/usr/bin/env bash
# Generate samples into EXP_DIR/results/inference.
# Usage: ./scripts/run_inference.sh EXP_DIR GPU_NUMBER [musegan infer options...]
set -euo pipefail
if [ "$#" -lt 1 ]; then echo "usage: $0 EXP_DIR [GPU_NUMBER] [options]" >&2; exit 2; fi
exp="$1"; gpu="${2:-0}"; shift $(( $# < 2 ? $# : 2 ))
exec musegan infer "$exp" --gpu "$gpu" "$@"
