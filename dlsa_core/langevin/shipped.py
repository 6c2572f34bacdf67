"""Precomputed runs of the paper's slow protocol (P = I, 15,000 sequential steps), shipped for instant presets.

Regenerate (about a minute per width on one CPU thread):
``python -m dlsa_core.langevin.shipped [--widths 4,8] [--runs 4] [--seed 0]``. Each file holds one
:class:`~dlsa_core.langevin.experiment.RankRun` as JSON, with the command, the library versions and the time it
took; the page uses it only for exactly these settings and recomputes anything else.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
from pathlib import Path

import numpy as np
import torch

from dlsa_core.langevin.experiment import RankRun, rank_experiment
from dlsa_core.langevin.rank import RankEstimate

DIR = Path(__file__).resolve().parents[2] / "assets" / "langevin"


def path_for(width: int, runs: int, seed: int) -> Path:
    return DIR / f"paper_protocol_d{width}_runs{runs}_seed{seed}.json"


def save_run(run: RankRun, path: Path, *, command: str) -> None:
    data = {k: v for k, v in dataclasses.asdict(run).items() if k != "estimate"}
    data = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in data.items()}
    data["estimate"] = {
        "rank": run.estimate.rank,
        "stderr": run.estimate.stderr,
        "per_run": run.estimate.per_run.tolist(),
    }
    meta = {
        "command": command,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": data, "meta": meta}))


def load_run(width: int, runs: int, seed: int) -> RankRun | None:
    """The shipped run for these settings, or ``None`` (also for an unreadable or inconsistent file)."""
    path = path_for(width, runs, seed)
    try:
        data = json.loads(path.read_text())["run"]
        est = data.pop("estimate")
        arrays = ("iterations", "excess_mean", "excess_first", "theory")
        run = RankRun(
            **{k: np.asarray(v) if k in arrays else v for k, v in data.items()},
            estimate=RankEstimate(est["rank"], est["stderr"], np.asarray(est["per_run"])),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ok = (
        run.width == width
        and run.runs == runs
        and run.preconditioner == "identity"
        and run.true_rank == width**2
    )
    return run if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description="Precompute the paper-protocol rank runs shown by the page.")
    ap.add_argument("--widths", default="4,8")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for w in (int(x) for x in args.widths.split(",")):
        run = rank_experiment(w, preconditioner="identity", runs=args.runs, seed=args.seed)
        cmd = f"python -m dlsa_core.langevin.shipped --widths {w} --runs {args.runs} --seed {args.seed}"
        save_run(run, path_for(w, args.runs, args.seed), command=cmd)
        print(
            f"d = {w}: {run.estimate.rank:.2f} ± {run.estimate.stderr:.2f} (true {run.true_rank}) in {run.seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
