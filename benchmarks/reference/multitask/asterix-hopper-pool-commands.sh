#!/bin/bash
# The commands behind asterix-hopper-pool-b273.jsonl and -b2048.jsonl (README, "The fix: every rollout frame"),
# 2026-12-03 09:51-10:00 UTC, from the repository root at be9a93a's code, 2 CPU cores, load 1-2 (another helper idle).
# Asterix R + F with hopper R (so the joint recipe is the whole zoo's mlp-2x512-tanh, lr 0.005, clip 0.5; 400 steps as
# the zoo's), the default variant: anchor_pool="auto" gives each Asterix source all 32,768 states of its 4 teachers'
# rollouts, hopper R 2048 data anchors; anchor batches forced to the whole zoo's 273 per source and step, and to 2048.
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 hopper-hades-r-64 -o asterix3.safetensors --name asterix-rf-hopper
hades-zoo train-multitask asterix3.safetensors --seeds 4 --arch mlp-2x512-tanh --epochs 400 --anchor-batch 273 --out asterix-hopper-pool-b273.jsonl
hades-zoo train-multitask asterix3.safetensors --seeds 4 --arch mlp-2x512-tanh --epochs 400 --anchor-batch 2048 --out asterix-hopper-pool-b2048.jsonl
