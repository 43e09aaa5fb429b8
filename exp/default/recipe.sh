#!/usr/bin/env bash
# Reproduces exp/default/pretrained/generator.npz from the RWC MIDI files, stage by stage
# (MODEL_CARD.md, "How it was trained").
#
# Usage, from the repository root:   exp/default/recipe.sh RWC_MIDI_DIR [LAST_STAGE]
#
# Stage NN trains with recipe/NN-*/params.yaml and config.yaml and leaves its weights in
# data/recipes/default/NN-*/pretrained/generator.npz (git-ignored), the folder the next stage's
# init_from names; a stage whose weights are there is skipped, so a rerun goes on after a stop
# (`musegan train` also resumes from its run's latest save). The last stage's weights are then
# evaluated in data/recipes/default/final/. Stages marked GPU run `musegan train --backend jax`
# and need jax with a GPU (pip install -e ".[jax]" "jax[cuda12]"), those marked CPU
# `--backend tf`. GAN training is not bit-exact from run to run: expect the model card's
# figures, not its bytes.
set -euo pipefail
source exp/recipe_lib.sh exp/default 2 "$@"

collect

# Stage 1 (GPU): from scratch, 14,664 steps; the generator at the last step.
if todo 1 01-from-scratch; then
    setup 01-from-scratch
    run musegan train "$R/01-from-scratch" --backend jax
    run musegan export "$R/01-from-scratch" --to "$W/01-from-scratch"
fi

# Stage 2 (GPU): 6,400 steps from stage 1 with the onset and chroma streams and an EMA, resumed
# at 3,200 with Adam's moments restarting; the mean of the EMA at 3,600-6,400 (every 400).
if todo 2 02-onset-chroma-ema; then
    setup 02-onset-chroma-ema
    run musegan train "$R/02-onset-chroma-ema" --backend jax --stop-step 3200
    restart_adam "$R/02-onset-chroma-ema" 3200
    run musegan train "$R/02-onset-chroma-ema" --backend jax
    keep "$R/02-onset-chroma-ema/average/generator.npz" 02-onset-chroma-ema
fi

finish 2 02-onset-chroma-ema
