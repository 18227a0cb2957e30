#!/usr/bin/env bash
# Engine agreement after the controller/engine seam moved into cotexit/controller (acting, setup, trials): the
# shipped probe on 300 arith test problems, greedy. The decode loop reruns its paired bench (full and exit runs),
# compared with the run committed before the refactor; generate() and vLLM run their exit runs alone
# (exits_only.py, half the work) and are checked row by row against that same committed decode-loop run.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
cotexit bench --suite arith --limit 300 --batch-size 32 --probe probes/toy-arith --temperature 0 --backend hf --out eval/agreement/hf-greedy
python eval/generate/compare.py --dir eval --a generate/hf-greedy --b agreement/hf-greedy --sampled "" --out eval/agreement/hf-vs-before.json
python eval/agreement/exits_only.py --backend generate --out eval/agreement/generate-exits.json
if python -c "import vllm" 2>/dev/null; then  # the vLLM environment (README, "vLLM on a CPU")
    VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=1 python eval/agreement/exits_only.py --backend vllm --out eval/agreement/vllm-exits.json
fi
