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

# 2026-12-03 16:37-16:58 UTC (idle 2 cores; the disjoint runs with the sliced encoding of this commit, before its ViewLayer): the pairs at MinAtar's own lr 0.03 (8 MinAtar sources'
# joint recipe: no clip), then the zoo's recipe (lr 0.005, clip 0.5), which hopper R brings into a merge.
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 breakout-minatar-hades-r-16 breakout-minatar-hades-f-16 -o ast-brk.safetensors --name ast-brk
hades-zoo train-multitask ast-brk.safetensors $A --out ast-brk.jsonl                                      # 73 s
hades-zoo train-multitask ast-brk.safetensors $A --encoding disjoint --out ast-brk-disjoint.jsonl         # 81 s
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 freeway-minatar-hades-r-16 freeway-minatar-hades-f-16 -o ast-fwy.safetensors --name ast-fwy
hades-zoo train-multitask ast-fwy.safetensors $A --out ast-fwy.jsonl                                      # 83 s
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 spaceinvaders-minatar-hades-r-16 spaceinvaders-minatar-hades-f-16 -o ast-si.safetensors --name ast-si
hades-zoo train-multitask ast-si.safetensors $A --out ast-si.jsonl                                        # 64 s
hades-zoo merge ast-brk.safetensors hopper-hades-r-64 -o ast-brk-hop.safetensors --name ast-brk-hop
hades-zoo train-multitask ast-brk-hop.safetensors $A --out ast-brk-hop.jsonl                              # 103 s
hades-zoo merge asterix-minatar-hades-r-16 asterix-minatar-hades-f-16 breakout-minatar-hades-r-16 breakout-minatar-hades-f-16 \
    freeway-minatar-hades-r-16 freeway-minatar-hades-f-16 spaceinvaders-minatar-hades-r-16 spaceinvaders-minatar-hades-f-16 \
    hopper-hades-r-64 -o minatar8-hop.safetensors --name minatar8-hopper
hades-zoo train-multitask minatar8-hop.safetensors $A --out minatar8-hop.jsonl                            # 158 s
hades-zoo train-multitask minatar8-hop.safetensors $A --encoding disjoint --out minatar8-hop-disjoint.jsonl  # 237 s
hades-zoo train-multitask minatar8-hop.safetensors $A --epochs 800 --out minatar8-hop-e800.jsonl          # 252 s
# 4 seeds, 17:12-17:32 UTC beside the whole-zoo disjoint-e800 screen (load 3-4):
A4="--seeds 4 --arch mlp-2x512-tanh --epochs 400 --anchor-batch 273"
hades-zoo train-multitask minatar8-hop.safetensors $A4 --out minatar8-hop-s4.jsonl                           # 609 s
hades-zoo train-multitask minatar8-hop.safetensors $A4 --encoding disjoint --out minatar8-hop-disjoint-s4.jsonl  # 575 s
