#!/usr/bin/env bash
# The GPU check: one H100/H200, under 9 minutes, every step fails loudly (non-zero exit, the reason
# printed). Run from anywhere; PYTHON defaults to the repository's .venv, else python3.
#
#   bench/gpu_check.sh
#
# 1. The machine: a CUDA device, torch built with CUDA, and the C compiler Triton needs.
# 2. bench/gpu_check.py: a Llama-2-7B-shape LoRA, seq 4096, 6 steps through the launcher's own torchrun
#    command (static rendezvous, NCCL, FSDP2) with the recipe's defaults, its first-step loss checked
#    against an eager fp32 reference; a row goes to bench/RESULTS.md.
# 3. bench/train.py: unmasked packing and the masked default, beside Hugging Face Trainer, one repeat
#    each, 20 steps (10 timed); rows go to bench/RESULTS.md with the machine.
# Both share one model directory, built once. Budget (H200 estimates, not yet measured): model 1 min,
# check 2.5 min, benchmark 3.5 min; the timeouts (100 + 180 + 240 s) keep the whole under 9 minutes.
# Where $OUT is set (the device runner's folder that comes back), bench/RESULTS.md is copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD TOKENIZERS_PARALLELISM=false
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
fail() { echo "gpu_check.sh FAILED: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null || fail "no nvidia-smi: not a GPU machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || fail "nvidia-smi cannot read the GPU"
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else f'torch {torch.__version__}: no CUDA')" \
    || fail "torch has no CUDA"
command -v gcc >/dev/null || command -v clang >/dev/null || [ -n "${CC:-}" ] \
    || fail "no C compiler: Triton (flex_attention, torch.compile) needs gcc, clang or \$CC"

WORK=${GPU_CHECK_WORKDIR:-$(mktemp -d)}
trap 'rm -rf "$WORK"; [ -z "${OUT:-}" ] || cp bench/RESULTS.md "$OUT/"' EXIT
df -h "$WORK" | tail -1
MODEL=$WORK/llama2-7b

echo "== 0/2 a random Llama-2-7B-shape model, bf16, built on the GPU in a child process"
timeout 100 "$PYTHON" bench/train.py --make-model-child --preset llama2-7b --model "$MODEL" --gpu-model \
    || fail "building the model (exit $?)"

echo "== 1/2 launcher path, 7B LoRA, defaults, against the eager reference"
timeout 180 "$PYTHON" bench/gpu_check.py --preset llama2-7b --seq 4096 --steps 6 --model-dir "$MODEL" \
    --workdir "$WORK" --results bench/RESULTS.md || fail "the launcher-path check (exit $?)"

echo "== 2/2 benchmark: unmasked, masked (default), Trainer; one repeat"
timeout 240 "$PYTHON" bench/train.py --preset llama2-7b --method lora --seq 4096 --batch 1 --steps 20 --repeats 1 \
    --variants unmasked,masked --model-dir "$MODEL" || fail "the benchmark (exit $?)"
echo "gpu_check.sh: passed; rows appended to bench/RESULTS.md"
