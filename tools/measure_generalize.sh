#!/usr/bin/env bash
# Issue 18's acceptance grid: every default architecture, plain BC and/or through the teacher,
# 4 seeds (8 for Breakout), one `hades-zoo generalize --archs A` call per (dataset, architecture),
# JSON per call under benchmark-results/generalize-transfer/<dataset>/<arch>.<transfers>.json.
# A call whose JSON exists is skipped, so the script resumes. Run from the repository root:
#
#   tools/measure_generalize.sh [DATASET_KEY ...]      # default: every dataset below, in order
#   TRANSFERS=teacher ARCHS="resmlp-2x256-relu tfm-1x64-gelu" tools/measure_generalize.sh hopper-r0
#   SELECT=agreement TRANSFERS=teacher ARCHS=mlp-2x64-relu tools/measure_generalize.sh hopper-f0   # <arch>.teacher.select.json
#   SELECT=agreement-lr TRANSFERS=teacher ARCHS=tfm-1x64-gelu tools/measure_generalize.sh walker2d-r0   # <arch>.teacher.select-lr.json
#   EPOCHS=192 TRANSFERS=teacher ARCHS=tfm-1x64-gelu tools/measure_generalize.sh breakout-r0   # <arch>.teacher-env.e192.json
#
# The authors' files are converted first from ../shared/reference/legacy (hopper, Breakout) and
# ../shared/reference/release (walker2d, halfcheetah) into $WORK (default runs/measure).
set -euo pipefail
OUT=benchmark-results/generalize-transfer
WORK=${WORK:-runs/measure}
SHARED=${SHARED:-../shared/reference}
BRAX=results/ICLR/brax/no_virtual_batch_norm/distill  # the release's HaDES-R brax datasets
TRANSFERS=${TRANSFERS:-none,teacher}
SELECT=${SELECT:-none}  # agreement: the teacher cells' student lr and steps by held-out agreement (generalize --select); agreement-lr: its lr only
EPOCHS=${EPOCHS:-}  # set: the students' BC steps (generalize --epochs), and .e<steps> in the JSON name
ARCHS=${ARCHS:-"resmlp-2x256-relu tfm-1x64-gelu mlp-3x512-relu mlp-2x256-gelu mlp-2x64-relu mlp-1x64-tanh mlp-2x256-tanh mlp-4x256-tanh mlp-2x1024-tanh"}
mkdir -p "$WORK"

dataset() {  # key -> path or zoo name (converting the authors' pickle once), and extra generalize flags
  case "$1" in
    hopper-r0) echo "$(legacy "$SHARED/legacy/hopper-R-D64-seed0.pkl" hopper r "$1") --seeds 4 --protocol paper" ;;
    hopper-f0) echo "$(legacy "$SHARED/legacy/hopper-F-D64-seed0.pkl" hopper f "$1") --seeds 4 --protocol paper" ;;
    walker2d-r0) echo "$(legacy "$SHARED/release/$BRAX/walker2d/D64/seed0/data_final.pkl" walker2d r "$1") --seeds 4 --protocol paper" ;;
    halfcheetah-r0) echo "$(legacy "$SHARED/release/$BRAX/halfcheetah/D64/seed0/data_final.pkl" halfcheetah r "$1") --seeds 4 --protocol paper" ;;
    breakout-r0) echo "$(legacy "$SHARED/legacy/Breakout-MinAtar-R-D16-seed0.pkl" Breakout-MinAtar r "$1") --seeds 8 --protocol paper" ;;
    cartpole-r4) echo "cartpole-hades-r-4 --seeds 4" ;;
    *) echo "unknown dataset key $1" >&2; exit 2 ;;
  esac
}

legacy() {  # an authors' pickle, converted once: legacy FILE ENV METHOD KEY
  local out="$WORK/$4.safetensors"
  [ -f "$out" ] || hades-zoo import-legacy "$1" --env "$2" --method "$3" -o "$out" >&2
  echo "$out"
}

for key in "${@:-hopper-r0 hopper-f0 walker2d-r0 halfcheetah-r0 breakout-r0 cartpole-r4}"; do
  for k in $key; do
    read -r -a args <<< "$(dataset "$k")"
    transfers=$TRANSFERS
    [ "$k" = breakout-r0 ] && transfers=${TRANSFERS//teacher/teacher-env}  # Breakout may use env anchors
    mkdir -p "$OUT/$k"
    for arch in $ARCHS; do
      json="$OUT/$k/$arch.${transfers//,/+}$([ "$SELECT" = none ] || echo ".${SELECT/agreement/select}")${EPOCHS:+.e$EPOCHS}.json"
      [ -f "$json" ] && continue
      echo "$(date -u +%H:%M:%S) $k $arch $transfers (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      hades-zoo generalize "${args[@]}" --archs "$arch" --transfer "$transfers" --select "$SELECT" ${EPOCHS:+--epochs "$EPOCHS"} \
        --json -q > "$json.tmp" && mv "$json.tmp" "$json"
    done
  done
done
