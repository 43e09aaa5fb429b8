#!/usr/bin/env bash
# Delete an experiment's model and results, then run it again from scratch.
# Usage: ./scripts/rerun_exp.sh EXP_DIR GPU_NUMBER --yes   (nothing is deleted without --yes)
set -euo pipefail
if [ "$#" -lt 2 ] || [ "${3:-}" != "--yes" ]; then
  echo "usage: $0 EXP_DIR GPU_NUMBER --yes  (deletes EXP_DIR/model, EXP_DIR/results and EXP_DIR/logs)" >&2
  exit 2
fi
[ -d "$1" ] || { echo "$0: $1: no such experiment folder" >&2; exit 2; }
rm -rf -- "$1/model" "$1/results" "$1/logs"
exec "$(cd "$(dirname "$0")" && pwd)/run_exp.sh" "$1" "$2"
