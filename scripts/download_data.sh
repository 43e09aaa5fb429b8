#!/usr/bin/env bash
# Download the published LPD-5 training phrases (train_x_lpd_5_phr.npz, sparse npz)
# into data/ with gdown. The file lands under its final name complete, or not at all.
# Usage: scripts/download_data.sh
set -euo pipefail

ID="14rrC5bSQkB9VYWrvt2IhsCjOKYrguk3S"
DIR="$(cd "$(dirname "$0")/.." && pwd)/data"
OUT="$DIR/train_x_lpd_5_phr.npz"
NAME="$(basename "$0")"

fail() { echo "$NAME: error: $*" >&2; exit 1; }

command -v gdown >/dev/null 2>&1 || fail "gdown is not installed (pip install gdown)"
if [ -e "$OUT" ]; then
    echo "$OUT already exists; delete it to download again"
    exit 0
fi
mkdir -p "$DIR"
TMP="$(mktemp "$DIR/.train_x_lpd_5_phr.npz.XXXXXX.tmp")"
LOG="$(mktemp)"
trap 'rm -f "$TMP" "$LOG"' EXIT

if ! gdown --quiet "https://drive.google.com/uc?id=$ID" -O "$TMP" >"$LOG" 2>&1; then
    # gdown wraps its message over several lines after "Error:"; keep it as one
    reason="$(sed -e '/^To report issues/d' -e 's/^Error://' "$LOG" | tr -s ' \t\n' ' ' | sed 's/^ //; s/ $//' | cut -c 1-400)"
    fail "could not download Google Drive file $ID (no network access?)${reason:+: $reason}"
fi
# Drive answers quota and permission problems with an HTML page, not an error
python -c 'import sys, zipfile; sys.exit(not zipfile.is_zipfile(sys.argv[1]))' "$TMP" \
    || fail "the download is not an npz file (Google Drive quota or permission page?); try again later"
mv -f "$TMP" "$OUT"
echo "$OUT: downloaded"
