#!/usr/bin/env bash
# Create an experiment folder with the default config/params and a note.
# Usage: ./scripts/setup_exp.sh EXP_DIR "NOTE"
set -euo pipefail
if [ "$#" -ne 2 ]; then echo "usage: $0 EXP_DIR \"NOTE\"" >&2; exit 2; fi
exec musegan setup "$1" --note "$2"
