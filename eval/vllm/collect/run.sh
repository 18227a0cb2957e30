#!/usr/bin/env bash
# collect --backend vllm against collect --backend hf on the toy model: 100 arith calib problems, greedy and at
# T=0.6 (the shipped probe's setting), each calibrated with `cotexit calibrate` (accuracy-drop, epsilon 0.05: 50
# calibration problems cannot certify the shipped probe's 0.02, which needs at least 114); then
# compare.py. In the vLLM environment (README, "vLLM"). Rerunning resumes the collections.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=1
out=eval/vllm/collect
data=runs/vllm-collect  # cue data (features of every cue): not committed; the probes and the comparison are
for setting in greedy t0.6; do
  temp=0; [ "$setting" = t0.6 ] && temp=0.6
  common=(--suite arith --split calib --limit 100 --temperature "$temp" --seed 0)
  cotexit collect "${common[@]}" --backend hf --batch-size 32 --out "$data/$setting/hf-cues"
  cotexit collect "${common[@]}" --backend vllm --batch-size 100 --max-model-len 768 --dtype float32 --out "$data/$setting/vllm-cues"
  for backend in hf vllm; do
    cotexit calibrate --data "$data/$setting/$backend-cues" --mode accuracy-drop --epsilon 0.05 --delta 0.1 --out "$out/$setting/$backend-probe"
  done
done
# At T=0.6 the backends draw different samples: an A/A pair, the hf collection again with another seed, shows how
# far two probes of 100 sampled problems land apart by sampling alone.
cotexit collect --suite arith --split calib --limit 100 --temperature 0.6 --seed 1 --backend hf --batch-size 32 --out "$data/t0.6/hf-seed1-cues"
cotexit calibrate --data "$data/t0.6/hf-seed1-cues" --mode accuracy-drop --epsilon 0.05 --delta 0.1 --out "$out/t0.6/hf-seed1-probe"
python eval/vllm/collect/compare.py --root "$out" --data "$data" --pairs greedy:hf:vllm t0.6:hf:vllm t0.6:hf:hf-seed1 \
    --out "$out/comparison.json"
