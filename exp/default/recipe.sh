#!/usr/bin/env bash
# Reproduces exp/default/pretrained/generator.npz from the RWC MIDI files, stage by stage
# (MODEL_CARD.md, "How it was trained").
#
# Usage, from the repository root:   exp/default/recipe.sh RWC_MIDI_DIR [LAST_STAGE]
#
# Stage NN trains with recipe/NN-*/params.yaml and config.yaml and leaves its weights in
# data/recipes/default/NN-*/pretrained/generator.npz (git-ignored), the folder the next stage's
# init_from names; a stage whose weights are there is skipped, so a rerun goes on after a stop.
# The last stage's weights are then evaluated in data/recipes/default/final/. GPU stages need jax
# with a GPU (pip install -e ".[jax]" "jax[cuda12]"), the others TensorFlow. GAN training is not
# bit-exact from run to run: expect the model card's figures, not its bytes.
set -euo pipefail
source exp/recipe_lib.sh exp/default 2 "$@"

collect

# Stage 1 (GPU): from scratch, 14,664 steps; the generator at the last step.
if todo 1 01-from-scratch; then
    setup 01-from-scratch
    run python -m musegan.training.jax_trainer "$R/01-from-scratch" --out "$R/01-from-scratch/state" --stop-step 14664
    run musegan import-state "$R/01-from-scratch" "$R/01-from-scratch/state" --overwrite
    run musegan export "$R/01-from-scratch" --to "$W/01-from-scratch"
fi

# Stage 2 (GPU): 6,400 steps from stage 1 with the onset and chroma streams and an EMA, as two
# runs of 3,200 (the second from the first's saved state, Adam's moments restarting); the mean
# of the EMA at 3,600-6,400.
if todo 2 02-onset-chroma-ema; then
    setup 02-onset-chroma-ema
    run python -m musegan.training.jax_trainer "$R/02-onset-chroma-ema" --out "$R/02-onset-chroma-ema/state-3200" --stop-step 3200
    run python -m musegan.training.jax_trainer "$R/02-onset-chroma-ema" --init "$R/02-onset-chroma-ema/state-3200" --out "$R/02-onset-chroma-ema/state" --stop-step 6400 --average-from 3600 --average-every 400
    keep "$R/02-onset-chroma-ema/state/average/generator.npz" 02-onset-chroma-ema
fi

finish 2 02-onset-chroma-ema
