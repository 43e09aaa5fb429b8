#!/usr/bin/env bash
# Objective metrics of a trained experiment (writes EXP_DIR/results/evaluation).
# Usage: scripts/run_evaluation.sh EXP_DIR GPU   (GPU "" for CPU)
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: $0 EXP_DIR GPU" >&2
  exit 2
fi
exec musegan evaluate "$1" --gpu "$2"
