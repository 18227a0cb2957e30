#!/bin/bash
# cotexit audit against the toy model served by vLLM with the shipped keep-cue probe (issue 23, item 3): at T=0.6 (the
# probe's calibrated setting) and T=1.0 (not covered), on harm (--suite arith, gold) and on answer changes (a prompt
# file, no gold). Run from the repository root; the server is started here and stopped at the end.
. .venv-vllm/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_NUM_OF_RESERVED_CPU=1
mkdir -p runs/audit
COTEXIT_PROBE=probes/toy-arith-keep-cue VLLM_USE_V2_MODEL_RUNNER=0 setsid python -m vllm.entrypoints.openai.api_server \
    --model cotexit/models/weights/toy --served-model-name toy --dtype float32 --enforce-eager --max-model-len 768 \
    --port 8000 --logits-processors cotexit.engines.vllm.serve:CotexitServeProcessor > runs/audit/server.log 2>&1 &
SERVER=$!
trap 'kill -TERM -$SERVER' EXIT
for _ in $(seq 1 240); do curl -sf http://127.0.0.1:8000/health > /dev/null && break; sleep 1; done
python eval/guarantee/make_prompts.py --split test --limit 300 --out runs/audit/arith-test-prompts.jsonl
A="--url http://127.0.0.1:8000 --probe toy-arith-keep-cue --epsilon 0.02 --concurrency 16 --max-rate 0 --keep-going"
cotexit audit $A --suite arith --limit 300 --temperature 0.6 --out eval/guarantee/audit-t0.6-harm \
    > eval/guarantee/audit-t0.6-harm.txt 2>&1
cotexit audit $A --prompts runs/audit/arith-test-prompts.jsonl --temperature 0.6 --out eval/guarantee/audit-t0.6-answer-change \
    > eval/guarantee/audit-t0.6-answer-change.txt 2>&1
cotexit audit $A --suite arith --limit 200 --temperature 1.0 --out eval/guarantee/audit-t1.0-harm \
    > eval/guarantee/audit-t1.0-harm.txt 2>&1
cotexit audit $A --prompts runs/audit/arith-test-prompts.jsonl --limit 200 --temperature 1.0 \
    --out eval/guarantee/audit-t1.0-answer-change > eval/guarantee/audit-t1.0-answer-change.txt 2>&1
