#!/usr/bin/env bash
# The checks that need a GPU, as one short script (under 8 minutes on one GPU), for a session
# that is lent one. Run from the repository root after the set-up (`make .venv` or `make test`):
#   bash benchmarks/gpu_check.sh
# Writes benchmarks/results/*_gpu.json (and cuda_tests_gpu.txt); each step runs even if an
# earlier one failed, and the script's exit status is 1 if any did.
# Data-parallel trials across GPUs need two GPUs (NCCL refuses two ranks on one device): on the
# one GPU of a check machine, step 1 runs DDP with NCCL as one rank (tests/workloads/test_cuda.py).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=benchmarks/results
mkdir -p "$OUT"
status=0
step() { echo "== $*"; "$@" || { echo "!! failed: $*"; status=1; }; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu_device_gpu.txt"
# 1. The CUDA tests (skipped on CPU machines): the loop, bundles, bf16 mixed precision, in-memory
#    data batched and augmented on the GPU with no host copy per step, DDP with NCCL (one rank).
step bash -c "$PY -m pytest tests/workloads/test_cuda.py -q -p no:cacheprovider 2>&1 | tee $OUT/cuda_tests_gpu.txt; exit \${PIPESTATUS[0]}"
# 2. Bundles on the GPU: trials/hour by bundle size, 4 trials per GPU.
step timeout 240 "$PY" benchmarks/bundle_throughput.py --workloads mnist1d-mlp,mnist1d-cnn --sizes 1,8,32,auto \
  --trials 128 --steps 300 --num-cpus 8 --gpus-per-trial 0.25 --out "$OUT/bundle_throughput_gpu.json"
# 3. A cifar10-resnet32 trial on generated CIFAR-format data on CUDA: checkpoint save/restore
#    times, steps redone after kills, and whether the continued run is bitwise the uninterrupted one
#    (on CUDA it may not be: cuDNN picks kernels per run; the record says).
step timeout 180 "$PY" benchmarks/checkpoint_overhead.py --device cuda --steps 200 --every-steps 25 --kills 3 \
  --out "$OUT/checkpoint_overhead_gpu.json"
exit $status
