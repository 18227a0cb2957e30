#!/usr/bin/env bash
# The generate() engine against cotexit's decode loop on the toy model, shipped probe, 300 arith test problems.
# Each bench is paired (the full run and the run with the exit, same problems); rerunning resumes.
# Then compare.py matches the runs row by row and writes comparison.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
common=(--suite arith --limit 300 --batch-size 32 --probe probes/toy-arith --temperature 0)
for backend in hf generate; do
    cotexit bench "${common[@]}" --backend "$backend" --out "eval/generate/$backend-greedy"
    cotexit bench "${common[@]}" --backend "$backend" --temperature 0.6 --out "eval/generate/$backend-t0.6"
done
python eval/generate/compare.py
