"""Import the weights trained on a lent GPU (a staging registry packed as ``stage.tar``) into
``assets/weights`` through ``dlsa_core.weights.save``, with the GPU benchmark in the model card.

    python scripts/gpu_import_weights.py --stage-tar OUT/stage.tar --bench-json OUT/bench_gpu.json \
        --grid OUT/ddpm_samples.png --recipe "..."
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dlsa_core import weights  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage-tar", required=True)
    p.add_argument("--bench-json", required=True)
    p.add_argument("--grid", default=None)
    p.add_argument("--recipe", default="")
    a = p.parse_args(argv)
    bench = json.loads(Path(a.bench_json).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(a.stage_tar) as tar:
            tar.extractall(tmp, filter="data")
        for name in ("mnist-classifier", "ddpm-mnist"):
            loaded = weights.load(name, root=tmp, device="cpu")  # verifies the staged hashes
            card = dict(loaded.card)
            if name == "ddpm-mnist":
                card["recipe"] = a.recipe
                card["metrics"] = {**card.get("metrics", {}), "quality_on_gpu": bench}
                card["benchmark_command"] = (
                    "python benchmarks/bench_ddpm.py --device cuda --no-speed --n 1000"
                )
            print(weights.save(name, loaded.tensors, loaded.config, card))
    if a.grid:
        shutil.copyfile(a.grid, REPO / "assets" / "ddpm_samples.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
