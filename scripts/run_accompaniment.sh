#!/usr/bin/env bash
# Write the band around a MIDI part with a track-conditional experiment (OUT.mid + OUT.png).
# Usage: ./scripts/run_accompaniment.sh [INPUT.mid [EXP_DIR [OUT.mid]]] [musegan accompany options...]
# Defaults: examples/piano_example.mid (made by examples/make_example.py when missing),
#           exp/accompaniment/piano, results/accompaniment/<input name>_band.mid
# Example: ./scripts/run_accompaniment.sh my_song.mid exp/accompaniment/bass out.mid --seed 7 --wav
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
positional=()
while [ "$#" -gt 0 ] && [ "${#positional[@]}" -lt 3 ] && [[ "$1" != -* ]]; do
  positional+=("$1"); shift
done
input="${positional[0]:-$root/examples/piano_example.mid}"
exp="${positional[1]:-$root/exp/accompaniment/piano}"
out="${positional[2]:-$root/results/accompaniment/$(basename "${input%.*}")_band.mid}"
if [ "$input" = "$root/examples/piano_example.mid" ] && [ ! -e "$input" ]; then
  python "$root/examples/make_example.py" "$input"
fi
exec musegan accompany "$input" --exp "$exp" --out "$out" "$@"
