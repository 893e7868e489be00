#!/bin/bash
# The whole-zoo screen behind README "Why the whole zoo falls: too few steps for 30 sources" (2026-12-03 13:10-14:42 UTC,
# 2 CPU cores at load 3-4 beside a helper's runs; code of 35dc92b plus the student rounds of this commit).
# 2 seeds, the default variant's anchors (cached once: anchors-s2.npz, teachers-s2.json), mlp-2x512-tanh, lr 0.005,
# 273 anchors per source and step as the 8-seed run; every variant's BC from the same anchors; evaluation of 17 sources.
# zoo.safetensors: the README's `hades-zoo merge ... -o zoo.safetensors --name whole-zoo`.
set -e
export OUT=.
python screen.py base                          # 400 steps (the default): screen-base.json (BC 544 s)
CHUNK=400 python screen.py e800 epochs=800     # 800 steps, weights kept at 400: screen-e800.json (BC 1049 s)
START=400 python screen.py dagger epochs=400  # from e800's 400-step weights: every source's student rollouts
                                               # (2048 states, MinAtar all) labelled by its teacher, 400 more steps
                                               # from a fresh Adam: screen-dagger.json (rollouts+teachers 495 s, BC 609 s)
# Notes: screen-base.json was written by the first form of screen.py (no chunks, no START) (one batched_anchor_bc call; the chunked loop
# above draws its anchor samples from keys folded once more, so a re-run of `base` gives other samples, same recipe).
# screen.py with START adds student states to every source, the data-anchored classic-control R sources too; the product's
# --student-rounds (hades_zoo.multitask.dagger) adds them to env-anchored sources only.
# 2026-12-03 16:58-17:12 UTC, idle 2 cores: each task its own input view (--encoding disjoint), same cached anchors.
# screen-disjoint.json: the sliced disjoint input before this commit's ViewLayer (the trunk's first Dense over all 2691 slots).
python screen.py disjoint inputs=disjoint                   # BC 551 s
# with this commit's ViewLayer and row blocks (each source's rows through its own view's kernel block):
python screen.py disjoint-e800 inputs=disjoint epochs=800   # 800 steps
