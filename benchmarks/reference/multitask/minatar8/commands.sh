#!/bin/bash
# The MinAtar-only merge behind README "MinAtar falls among MinAtar alone" (2026-12-03 15:17-15:32 UTC, 2 CPU cores,
# code of 584c9a6): the 8 MinAtar sources of the whole zoo, 2 seeds, the zoo's recipe (mlp-2x512-tanh, 400 steps) and
# its 273 anchors per source and step; every source keeps every rollout state of its 2 teachers (16,384).
set -e
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 breakout-minatar-hades-r-16 breakout-minatar-hades-f-16 \
    freeway-minatar-hades-r-16 freeway-minatar-hades-f-16 spaceinvaders-minatar-hades-r-16 spaceinvaders-minatar-hades-f-16 \
    -o minatar8.safetensors --name minatar8
A="--seeds 2 --arch mlp-2x512-tanh --epochs 400 --anchor-batch 273"
hades-zoo train-multitask minatar8.safetensors $A --out minatar8-default.jsonl                    # 161 s
hades-zoo train-multitask minatar8.safetensors $A --conditioning onehot --out minatar8-onehot.jsonl  # 142 s
hades-zoo train-multitask minatar8.safetensors $A --epochs 800 --out minatar8-e800.jsonl            # 213 s
# The control, 15:47-15:49 UTC: Asterix R + F beside hopper R only, same recipe, seeds and pool (16,384 per Asterix source):
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 hopper-hades-r-64 -o asterix3.safetensors --name asterix-rf-hopper
hades-zoo train-multitask asterix3.safetensors $A --out asterix-hopper-s2.jsonl                    # 105 s
# Not finished: --encoding disjoint (each game's frame in slots of its own: 5600 inputs) was stopped in its BC at the
# session's end.
