# Shared by the exp/**/recipe.sh scripts:
#   source exp/recipe_lib.sh EXP N_STAGES "$@"
# where EXP is the experiment whose shipped weights the recipe reproduces, N_STAGES its number of
# stages, and the recipe's own arguments are RWC_MIDI_DIR [LAST_STAGE]. It sets
#   RWC   the folder of RWC MIDI files (the one with metadata.csv)
#   LAST  the last stage to run (default: all)
#   W     where each stage's weights go: $W/NN-name/pretrained/generator.npz (git-ignored)
#   R     where each stage trains: $R/NN-name/, with $EXP/recipe/NN-name/params.yaml and config.yaml
# Every setting of a stage is in its two yaml files; every command that trains, exports, moves a
# state, averages, collects or evaluates is one line after `run`.

EXP=$1
if [ $# -lt 3 ]; then
    echo "usage: $EXP/recipe.sh RWC_MIDI_DIR [LAST_STAGE]   (from the repository root)" >&2
    exit 2
fi
RWC=$3
LAST=${4:-$2}
W=data/recipes/${EXP##*/}
R=$W/run

# Print a command, then run it.
run() { printf '+ %s\n' "$*" >&2; "$@"; }

# Whether stage $1 (named $2) is to run: up to LAST, and its weights are not there yet, so a
# rerun goes on after a stop (`musegan train` itself resumes from the run's latest save).
todo() { [ "$1" -le "$LAST" ] && [ ! -f "$W/$2/pretrained/generator.npz" ]; }

# Stage $1's training folder and weights folder, each with the stage's yaml files.
setup() {
    mkdir -p "$R/$1" "$W/$1"
    cp "$EXP/recipe/$1/params.yaml" "$EXP/recipe/$1/config.yaml" "$R/$1/"
    cp "$EXP/recipe/$1/params.yaml" "$EXP/recipe/$1/config.yaml" "$W/$1/"
}

# Stage $2's weights are the generator file $1 (a run's average, EXP_DIR/average/generator.npz).
keep() { mkdir -p "$W/$2/pretrained" && cp "$1" "$W/$2/pretrained/generator.npz"; }

# The jax run in $1, stopped at step $2, goes on from there with Adam's moments restarting, as
# the run the stage reproduces did (it was resumed from a state saved without them): the state
# of step $2 becomes a TensorFlow checkpoint and then a state again, without Adam's moments
# (export-state leaves them out unless --with-adam); weights, EMA, discriminator and step stay.
# Skipped once the run has saved a later state, so a rerun after a stop does not redo it.
restart_adam() {
    local later
    later=$(find "$1/state" -mindepth 1 -maxdepth 1 -name 'step-*' | sed 's/.*step-//' | awk -v s="$2" '$1 > s')
    [ -z "$later" ] || return 0
    run musegan import-state "$1" "$1/state/step-$2" --overwrite
    run musegan export-state "$1" "$1/state/step-$2" --overwrite
}

# The training phrases, unless they are there.
collect() {
    if [ ! -f data/train_x_rwc_phr.npz ]; then
        run musegan collect "$RWC" data/train_x_rwc_phr.npz
    fi
}

# Once stage $1 (named $2), the last, has run: its weights beside $EXP's yaml files in
# $W/final/, a folder that accompanies and evaluates as $EXP does, and their evaluation.
finish() {
    [ "$LAST" -ge "$1" ] || return 0
    mkdir -p "$W/final/pretrained"
    cp "$EXP/params.yaml" "$EXP/config.yaml" "$W/final/"
    cp "$W/$2/pretrained/generator.npz" "$W/final/pretrained/"
    run musegan evaluate "$W/final" --bars 2000 --seed 0 --overwrite
    echo "compare $W/final/results/evaluation/report.md with $EXP/MODEL_CARD.md"
}
