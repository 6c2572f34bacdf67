#!/usr/bin/env bash
# Short follow-up GPU run: resume the carried checkpoint (.gpu_ckpt/last) at a lower learning rate,
# export the EMA weights to a staging registry, pack them, then benchmark on the GPU.
#   TRAIN_MINUTES=1.3 LR=2e-4 bash scripts/gpu_finetune_ddpm.sh   (carry .whl and .gpu_ckpt)
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DLSA_OFFLINE=1 TQDM_MININTERVAL=20
STAGE=/tmp/stage
rm -rf "$STAGE"
{
  python3 -m dlsa_core.diffusion.train --out .gpu_ckpt --resume --max-minutes "${TRAIN_MINUTES:-1.3}" \
    --batch-size 512 --lr "${LR:-2e-4}" --warmup-steps 0 --ckpt-every 100000 --mixed-precision bf16 --device cuda &&
  python3 -m dlsa_core.diffusion.export --checkpoint .gpu_ckpt --root "$STAGE" &&
  python3 -m dlsa_core.classifier.train --epochs 30 --device cuda --export --root "$STAGE"
} 2>&1 | tee "$OUT/log.txt"
tar -C "$STAGE" -cf "$OUT/stage.tar" .
tar -C .gpu_ckpt -cf - last | split -b 15M - "$OUT/ckpt.tar.part-"
python3 benchmarks/bench_ddpm.py --root "$STAGE" --device cuda --no-speed --steps 20 50 --n 1000 \
  --grid "$OUT/ddpm_samples.png" --json "$OUT/bench_gpu.json" 2>&1 | grep -v Warn | tee -a "$OUT/log.txt"
