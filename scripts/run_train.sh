#!/usr/bin/env bash
# Train (or resume) an experiment. Usage: ./scripts/run_train.sh EXP_DIR GPU_NUMBER
set -euo pipefail
if [ "$#" -lt 1 ]; then echo "usage: $0 EXP_DIR [GPU_NUMBER]" >&2; exit 2; fi
exec musegan train "$1" --gpu "${2:-0}"
