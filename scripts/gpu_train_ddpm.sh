#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see /work/.library/device): train the classifier and the DDPM
# (stopped by wall clock), export both to a staging registry, benchmark on the GPU, and pack the
# results into $OUT. Needs the diffusers, importlib_metadata and mlxtend wheels in .whl/ (carried).
#   TRAIN_MINUTES=5 CLF_EPOCHS=30 BENCH_N=1000 bash scripts/gpu_train_ddpm.sh
set -uo pipefail
MIN=${TRAIN_MINUTES:-5}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DLSA_OFFLINE=1 TQDM_MININTERVAL=20
STAGE=/tmp/stage
CK=/tmp/ckpt
rm -rf "$STAGE" "$CK"
{
  nvidia-smi -L
  python3 -m dlsa_core.classifier.train --epochs "${CLF_EPOCHS:-30}" --device cuda --export --root "$STAGE" &&
  python3 -m dlsa_core.diffusion.train --out "$CK" --max-minutes "$MIN" --batch-size 512 --lr 8e-4 \
    --warmup-steps 500 --ckpt-every 2000 --mixed-precision bf16 --device cuda &&
  python3 -m dlsa_core.diffusion.export --checkpoint "$CK" --root "$STAGE" &&
  python3 benchmarks/bench_ddpm.py --root "$STAGE" --device cuda --no-speed --n "${BENCH_N:-1000}" \
    --grid "$OUT/ddpm_samples.png" --json "$OUT/bench_gpu.json" --update-card
  echo "exit status $?"
} 2>&1 | tee "$OUT/log.txt"
tar -C "$STAGE" -cf "$OUT/stage.tar" .
tar -C "$CK" -cf - last | split -b 15M - "$OUT/ckpt.tar.part-"
ls -la "$OUT"
