#!/usr/bin/env bash
# vLLM against cotexit's decode loop, in the vLLM environment (README, "vLLM"): the toy model with the shipped
# probe on 300 arith test problems, greedy, both engines paired (full run and exit run); then throughput.
# Rerunning resumes the benches. compare.py (eval/generate) matches the two runs row by row.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=1
common=(--suite arith --limit 300 --batch-size 32 --probe probes/toy-arith --temperature 0 --dtype float32)
cotexit bench "${common[@]}" --backend hf --out eval/vllm/hf-greedy
# vLLM compiled (its default: torch.compile; the probe's layers are outputs of the capture model's forward), then eager
cotexit bench "${common[@]}" --backend vllm --max-model-len 768 --out eval/vllm/vllm-compiled-greedy
python eval/generate/compare.py --dir eval/vllm --a hf-greedy --b vllm-compiled-greedy --sampled "" --out eval/vllm/comparison-compiled.json
cotexit bench "${common[@]}" --backend vllm --max-model-len 768 --enforce-eager --out eval/vllm/vllm-greedy
python eval/generate/compare.py --dir eval/vllm --a hf-greedy --b vllm-greedy --sampled "" --out eval/vllm/comparison.json
# The same on two tensor-parallel workers (two processes, one core each)
cotexit bench "${common[@]}" --backend vllm --max-model-len 768 --enforce-eager --tensor-parallel-size 2 --out eval/vllm/vllm-tp2-greedy
python eval/generate/compare.py --dir eval/vllm --a hf-greedy --b vllm-tp2-greedy --sampled "" --out eval/vllm/comparison-tp2.json
# Throughput: vLLM in this process binds its OpenMP threads; bind them to both cores (the decode loop's arms run
# in a process of their own, while vLLM's threads idle).
export VLLM_CPU_OMP_THREADS_BIND=0-1
python eval/vllm/bench_throughput.py --model smollm2-135m --suite gsm8k --rounds 5 --hf-python .venv/bin/python
python eval/vllm/bench_throughput.py --model toy --suite arith --probe probes/toy-arith --limit 128 --rounds 5 --max-model-len 768 --hf-python .venv/bin/python
python eval/vllm/profile_controller.py --model smollm2-135m --suite gsm8k
python eval/vllm/profile_controller.py --model toy --suite arith --probe probes/toy-arith --max-model-len 768
# collect --backend vllm against --backend hf: eval/vllm/collect/run.sh
