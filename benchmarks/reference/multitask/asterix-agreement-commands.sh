#!/bin/bash
# The commands behind asterix-agreement.jsonl (README, "Why Asterix falls"), 2026-12-03, from the repository root,
# 2 CPU cores shared with another helper's jobs (load 4-12: contended), each run under `nice -n 15`.
# One source, no merge: the source's own recipe is the teacher; each --run trains a student on its pairs plus
# teacher-labelled anchors (examples/anchor_agreement.py), 4 training seeds, every policy scored on 8 evaluation seeds.
R=asterix-minatar-hades-r-16
python examples/anchor_agreement.py $R --seeds 4 --eval-seeds 8 --out asterix-agreement.jsonl \
  --run "zoo-2048" --run "zoo-8192,anchors=8192" \
  --run "own-recipe-2048,arch=mlp-2x512-relu,lr=0.03,epochs=64,grad_clip=none" \
  --run "own-recipe-teacher-init-2048,arch=mlp-2x512-relu,lr=0.03,epochs=64,grad_clip=none,init=teacher" \
  --run "zoo-2048-e2000,epochs=2000"
python examples/anchor_agreement.py $R --seeds 4 --eval-seeds 8 --out asterix-agreement.jsonl \
  --run "zoo-2048-logits,labels=logits" --run "zoo-2048-kd-t5,labels=kd,temp=5"
python examples/anchor_agreement.py $R --seeds 4 --eval-seeds 8 --out asterix-agreement.jsonl \
  --run "zoo-32768-b2048,anchors=32768,batch=2048"   # a second run (epochs=1200) was stopped for the merge below

# Asterix R + F merged alone, the default's variant with every rollout state as an anchor (32768 per source at 4 seeds),
# 2048 sampled per source and step, the zoo's recipe (scored on evaluation seed 0, as asterix-anchors.jsonl).
# Started 07:08 UTC, still in BC at the 08:00 landing deadline: no result committed.
A=asterix-minatar-hades-r-16,asterix-minatar-hades-f-16
python examples/multitask_share.py --focus $A --seeds 4 --anchors 32768 --out asterix-pool.jsonl \
  --run "asterix-alone-4seeds-32768-b2048=focus,arch=mlp-2x512-tanh,lr=0.005,epochs=400,grad_clip=0.5,anchor_batch=2048"
