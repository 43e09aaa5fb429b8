#!/usr/bin/env bash
# Collect 4-bar training phrases from a folder of MIDI files (see `musegan collect -h`).
# Usage: scripts/collect_data.sh IN_DIR OUT.npz [--exp DIR] [--jobs N] [--overwrite]
# Example: scripts/collect_data.sh RWC_DIR data/train_x_rwc_phr.npz   (RWC_DIR: the folder with metadata.csv)
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 IN_DIR OUT.npz [--exp DIR] [--jobs N] [--overwrite]" >&2
    exit 2
fi
exec musegan collect "$@"
