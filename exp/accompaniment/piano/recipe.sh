#!/usr/bin/env bash
# Reproduces exp/accompaniment/piano/pretrained/generator.npz from the RWC MIDI files, stage by
# stage (MODEL_CARD.md, "How it was trained").
#
# Usage, from the repository root:   exp/accompaniment/piano/recipe.sh RWC_MIDI_DIR [LAST_STAGE]
#
# Stage NN trains with recipe/NN-*/params.yaml and config.yaml and leaves its weights in
# data/recipes/piano/NN-*/pretrained/generator.npz (git-ignored), the folder the next stage's
# init_from names; a stage whose weights are there is skipped, so a rerun goes on after a stop
# (`musegan train` also resumes from its run's latest save). The last stage's weights are then
# evaluated in data/recipes/piano/final/. Stages marked GPU run `musegan train --backend jax`
# and need jax with a GPU (pip install -e ".[jax]" "jax[cuda12]"), those marked CPU
# `--backend tf`. GAN training is not bit-exact from run to run: expect the model card's
# figures, not its bytes.
set -euo pipefail
source exp/recipe_lib.sh exp/accompaniment/piano 6 "$@"

collect

# Stage 1 (GPU): from scratch, 24,908 steps, resumed at 14,473 with Adam's moments restarting;
# the generator at the last step.
if todo 1 01-from-scratch; then
    setup 01-from-scratch
    run musegan train "$R/01-from-scratch" --backend jax --stop-step 14473
    restart_adam "$R/01-from-scratch" 14473
    run musegan train "$R/01-from-scratch" --backend jax
    run musegan export "$R/01-from-scratch" --to "$W/01-from-scratch"
fi

# Stage 2 (CPU): 3,600 steps with the onset stream and an EMA; the mean of the EMA at 2,000-3,600.
if todo 2 02-onset-ema-cpu; then
    setup 02-onset-ema-cpu
    run musegan train "$R/02-onset-ema-cpu" --backend tf
    keep "$R/02-onset-ema-cpu/average/generator.npz" 02-onset-ema-cpu
fi

# Stage 3 (GPU): 6,400 steps, resumed at 3,200 with Adam's moments restarting; the mean of the
# EMA at 3,600-6,400, then its mean with stage 2's.
if todo 3 03-onset-ema-gpu; then
    setup 03-onset-ema-gpu
    run musegan train "$R/03-onset-ema-gpu" --backend jax --stop-step 3200
    restart_adam "$R/03-onset-ema-gpu" 3200
    run musegan train "$R/03-onset-ema-gpu" --backend jax
    run musegan average-generators "$W/03-onset-ema-gpu/pretrained/generator.npz" "$W/02-onset-ema-cpu/pretrained/generator.npz" "$R/03-onset-ema-gpu/average/generator.npz"
fi

# Stage 4 (CPU): 2,800 steps with the minibatch-std feature; the mean of the EMA at 2,000-2,800,
# then its mean with stage 3's.
if todo 4 04-minibatch-std; then
    setup 04-minibatch-std
    run musegan train "$R/04-minibatch-std" --backend tf
    run musegan average-generators "$W/04-minibatch-std/pretrained/generator.npz" "$W/03-onset-ema-gpu/pretrained/generator.npz" "$R/04-minibatch-std/average/generator.npz"
fi

# Stage 5 (CPU): the drums alone, 3,600 steps with the rhythm stream; the live weights at 3,600.
if todo 5 05-drums; then
    setup 05-drums
    run musegan train "$R/05-drums" --backend tf
    run musegan export "$R/05-drums" --live --to "$W/05-drums"
fi

# Stage 6 (CPU): the guitar alone, 1,500 steps with binary neurons and the chroma stream; the
# mean of the EMA at 800-1,500.
if todo 6 06-guitar; then
    setup 06-guitar
    run musegan train "$R/06-guitar" --backend tf
    keep "$R/06-guitar/average/generator.npz" 06-guitar
fi

finish 6 06-guitar
