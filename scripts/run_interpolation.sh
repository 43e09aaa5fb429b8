#!/usr/bin/env bash
# Interpolate in latent space into EXP_DIR/results/interpolation.
# Usage: ./scripts/run_interpolation.sh EXP_DIR GPU_NUMBER [musegan interpolate options...]
set -euo pipefail
if [ "$#" -lt 1 ]; then echo "usage: $0 EXP_DIR [GPU_NUMBER] [options]" >&2; exit 2; fi
exp="$1"; gpu="${2:-0}"; shift $(( $# < 2 ? $# : 2 ))
exec musegan interpolate "$exp" --gpu "$gpu" "$@"
