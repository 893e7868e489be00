#!/bin/bash
# The commands behind minatar-share-before-fix.jsonl and minatar-share.jsonl (README, "Why MinAtar fell there").
# 2026-12-02, 2 CPU cores shared with other jobs (load 3-7), from the repository root.
M=asterix-minatar-hades-r-16,asterix-minatar-hades-f-16,spaceinvaders-minatar-hades-r-16,spaceinvaders-minatar-hades-f-16,breakout-minatar-hades-r-16,breakout-minatar-hades-f-16
B=ant-hades-r-64,ant-hades-f-64,humanoid-hades-r-64,humanoid-hades-f-64,humanoidstandup-hades-r-64,humanoidstandup-hades-f-64
ZOO=arch=mlp-2x512-tanh,lr=0.005,epochs=400,grad_clip=0.5
AST=asterix-minatar-hades-r-16+asterix-minatar-hades-f-16
SI=spaceinvaders-minatar-hades-r-16+spaceinvaders-minatar-hades-f-16

# before the fix (env anchors rolled out on today's dynamics): minatar-share-before-fix.jsonl
# (the brax sources B were given for a "MinAtar + brax" row that was stopped once the MinAtar sources fell alone)
python examples/multitask_share.py --focus $M --others $B --seeds 2 --out minatar-share-before-fix.jsonl \
  --run "minatar6, zoo recipe, 273=focus,$ZOO,anchor_batch=273"
python examples/multitask_share.py --focus $M --seeds 2 --out minatar-share-before-fix.jsonl \
  --run "minatar6, own joint recipe (relu, lr 0.03, 64 steps, no clip), full=focus" \
  --run "minatar6, zoo recipe with relu, 273=focus,arch=mlp-2x512-relu,lr=0.005,epochs=400,grad_clip=0.5,anchor_batch=273"
python examples/multitask_share.py --focus $M --seeds 2 --out minatar-share-before-fix.jsonl \
  --run "asterix R + F alone, zoo recipe, 273=$AST,$ZOO,anchor_batch=273" \
  --run "spaceinvaders R + F alone, zoo recipe, 273=$SI,$ZOO,anchor_batch=273"
python examples/multitask_share.py --focus $M --seeds 2 --out minatar-share-before-fix.jsonl \
  --run "asterix R + F alone, zoo recipe, 273, 1 DAgger round=$AST,$ZOO,anchor_batch=273,dagger=1" \
  --run "spaceinvaders R + F alone, zoo recipe, 273, 1 DAgger round=$SI,$ZOO,anchor_batch=273,dagger=1" \
  --run "minatar6, zoo recipe, 273, 1 DAgger round=focus,$ZOO,anchor_batch=273,dagger=1"
python examples/multitask_share.py --focus $M --seeds 2 --anchors 4096 --out minatar-share-before-fix.jsonl \
  --run "asterix R + F alone, zoo recipe, 273, 4096 teacher anchors=$AST,$ZOO,anchor_batch=273" \
  --run "spaceinvaders R + F alone, zoo recipe, 273, 4096 teacher anchors=$SI,$ZOO,anchor_batch=273"

# after the fix (env anchors on each dataset's own dynamics): minatar-share.jsonl
python examples/multitask_share.py --focus $M --seeds 2 --out minatar-share.jsonl \
  --run "spaceinvaders R + F alone, zoo recipe, 273=$SI,$ZOO,anchor_batch=273" \
  --run "minatar6, zoo recipe, 273=focus,$ZOO,anchor_batch=273"
python examples/multitask_share.py --focus $M --seeds 2 --anchors 4096 --out minatar-share.jsonl \
  --run "minatar6, zoo recipe, 273, 4096 anchors=focus,$ZOO,anchor_batch=273"
python examples/multitask_share.py --focus $M --seeds 2 --anchors 8192 --out minatar-share.jsonl \
  --run "minatar6, zoo recipe, 273, 8192 anchors=focus,$ZOO,anchor_batch=273"

# Asterix alone, 4 seeds, after the fix: asterix-anchors.jsonl
A=asterix-minatar-hades-r-16,asterix-minatar-hades-f-16
ZOO4=arch=mlp-2x512-tanh,lr=0.005,epochs=400,grad_clip=0.5,anchor_batch=273
python examples/multitask_share.py --focus $A --seeds 4 --anchors 2048 --out asterix-anchors.jsonl \
  --run "asterix-alone-4seeds-2048=focus,$ZOO4" --run "asterix-alone-4seeds-2048-dagger1=focus,$ZOO4,dagger=1"
python examples/multitask_share.py --focus $A --seeds 4 --anchors 4096 --out asterix-anchors.jsonl --run "asterix-alone-4seeds-4096=focus,$ZOO4"
python examples/multitask_share.py --focus $A --seeds 4 --anchors 8192 --out asterix-anchors.jsonl --run "asterix-alone-4seeds-8192=focus,$ZOO4"
python examples/multitask_share.py --focus $A --seeds 4 --anchors 2048 --out asterix-anchors.jsonl \
  --run "asterix-alone-4seeds-2048-dagger3=focus,$ZOO4,dagger=3"
