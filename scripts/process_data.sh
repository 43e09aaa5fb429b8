#!/usr/bin/env bash
# Convert a dataset (sparse npz, dense npy or packed cache) into the fast packed cache.
# Usage: scripts/process_data.sh IN.npz OUT.npz [--overwrite]
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 IN.npz OUT.npz [--overwrite]" >&2
    exit 2
fi
exec musegan process "$@"
