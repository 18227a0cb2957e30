#!/bin/bash
# bench --backend vllm --exit without --dtype (the probe's float32) and with --dtype bfloat16 (issue 23)
cd /work/main && . .venv-vllm/bin/activate
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_NUM_OF_RESERVED_CPU=1
cotexit bench --suite arith --limit 100 --batch-size 32 --exit --backend vllm --max-model-len 768 \
    --out eval/guarantee/vllm-exit > eval/guarantee/vllm-exit.txt 2>&1 || exit 1
cotexit bench --suite arith --limit 100 --batch-size 32 --exit --backend vllm --max-model-len 768 --dtype bfloat16 \
    --out eval/guarantee/vllm-exit-bfloat16 > eval/guarantee/vllm-exit-bfloat16.txt 2>&1 || exit 1
python eval/generate/compare.py --dir eval/guarantee --a settings-t0 --b vllm-exit --sampled "" --out eval/guarantee/vllm-exit-agreement.json
python eval/generate/compare.py --dir eval/guarantee --a settings-t0 --b vllm-exit-bfloat16 --sampled "" --out eval/guarantee/vllm-exit-bfloat16-agreement.json
