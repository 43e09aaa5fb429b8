#!/usr/bin/env bash
# Reproduces exp/accompaniment/strings/pretrained/generator.npz from the RWC MIDI files, stage by
# stage (MODEL_CARD.md, "How it was trained").
#
# Usage, from the repository root:   exp/accompaniment/strings/recipe.sh RWC_MIDI_DIR [LAST_STAGE]
#
# Stage 1 is the from-scratch model's stage 1 (exp/default/recipe.sh; its weights in
# data/recipes/default/01-from-scratch/). Stage 2 trains with recipe/02-*/params.yaml and
# config.yaml and leaves its weights in data/recipes/strings/02-*/pretrained/generator.npz
# (git-ignored); a stage whose weights are there is skipped, so a rerun goes on after a stop
# (`musegan train` also resumes from its run's latest save). The weights are then evaluated in
# data/recipes/strings/final/. Stages marked GPU run `musegan train --backend jax`
# and need jax with a GPU (pip install -e ".[jax]" "jax[cuda12]"), those marked CPU
# `--backend tf`. GAN training is not bit-exact from run to run: expect the model card's
# figures, not its bytes.
set -euo pipefail
source exp/recipe_lib.sh exp/accompaniment/strings 2 "$@"

# Stage 1 (GPU): the from-scratch model, 14,664 steps (after collecting the training phrases).
run exp/default/recipe.sh "$RWC" 1

# Stage 2 (GPU): warm-started from stage 1, 3,200 steps with the onset stream and an EMA; the
# mean of the EMA at 1,600-3,200, every 200 steps.
if todo 2 02-follow-the-strings; then
    setup 02-follow-the-strings
    run musegan train "$R/02-follow-the-strings" --backend jax
    keep "$R/02-follow-the-strings/average/generator.npz" 02-follow-the-strings
fi

finish 2 02-follow-the-strings
