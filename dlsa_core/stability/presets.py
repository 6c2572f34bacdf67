"""The page's problems and presets as plain data, shipped precomputations, and the reproduce snippet.

Problems are named by plain keys (``"digits"``), which is also what a link carries
(``?stab.problem=digits``). Each has a builder call written out as text, so the "Reproduce in Python"
snippet prints exactly the call that builds it. The heavy problems (digits, the trained ReLU net) and
every problem's batch-size curve are precomputed and shipped in ``assets/stability/<key>.npz`` so that
a preset paints at once; regenerate them with::

    python -m dlsa_core.stability.presets

A shipped file is used only when its recorded builder call matches the current one (else rebuilt).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "stability"


@dataclass(frozen=True)
class ProblemSpec:
    """One problem of the page: its label, the builder call (text), and what to notice."""

    label: str
    call: str  # evaluated with ``stab`` = dlsa_core.stability
    notice: str


PROBLEMS: dict[str, ProblemSpec] = {
    "dominant": ProblemSpec(
        "2-D: one dominant sample",
        "stab.dominant_sample_2d()",
        "One sample carries H's top direction: at B = 1 SGD tolerates only an eighth of GD's step.",
    ),
    "incoherent": ProblemSpec(
        "2-D: incoherent samples",
        "stab.incoherent_2d()",
        "H looks isotropic but each sample is sharp in its own direction: the trace bound is tight.",
    ),
    "toy": ProblemSpec(
        "2-D toy (hand-checkable)",
        "stab.toy_rank_one_2d()",
        "Check by hand: eta*(1) = 0.5760, eta*(2) = 0.9382, eta*(3) = GD's 1.1315.",
    ),
    "digits": ProblemSpec(
        "Digits least squares (n = 200)",
        "stab.digits_least_squares()",
        "Real data, realizable targets (y = X theta0, so the minimum interpolates): correlated pixels make "
        "SGD's threshold approach GD's quickly as B grows. With the real labels the minimum is regular: "
        "see the 'Regular minimum' tab.",
    ),
    "relu": ProblemSpec(
        "ReLU net minimum (n = 40)",
        "stab.relu_net_minimum(40, width=128, classes=(0, 1, 2, 3))",
        "A real network minimum (trained to interpolation), computed exactly in the n k = 160-dimensional "
        "Gram (NTK) space.",
    ),
}

#: Presets: plain ids -> label and every widget value they set (a preset sets all of them, every time).
PRESETS: dict[str, dict] = {
    "dominant": {"label": "One sample dominates (2-D)", "problem": "dominant", "B": 1, "ratio": 0.141},
    "incoherent": {"label": "Incoherent samples (2-D)", "problem": "incoherent", "B": 2, "ratio": 0.794},
    "digits": {"label": "Digits least squares", "problem": "digits", "B": 4, "ratio": 0.708},
    "relu": {"label": "Trained ReLU net minimum", "problem": "relu", "B": 2, "ratio": 0.794},
}
#: Values of the widgets a preset does not name (also the widgets' defaults).
DEFAULTS = {"repl": False, "steps": 100, "runs": 1000, "seed": 0}
#: Batch sizes of the regular-minimum (loss floor) view on digits.
FLOOR_BATCHES = (1, 4, 16, 64)


def build_problem(key: str):
    """Build a problem from scratch (slow for ``relu``: trains the net)."""
    from dlsa_core import stability as stab

    if key not in PROBLEMS:
        raise ValueError(f"unknown problem {key!r}; use one of {sorted(PROBLEMS)}.")
    return eval(PROBLEMS[key].call, {"stab": stab})  # noqa: S307 - fixed calls from PROBLEMS


#: The columns of the batch-size curve (shipped, exported as CSV).
CURVE_COLUMNS = (
    "batch_size",
    "p",
    "eta_star",
    "eta_gd",
    "bound_15",
    "bound_16",
    "bound_rank_one",
    "sufficient",
)


def _region_keys() -> tuple[str, ...]:
    return CURVE_COLUMNS


def precompute(key: str, out_dir: Path = ASSETS) -> Path:
    """Build one problem and its curves (both sampling schemes) and save them to ``<key>.npz``."""
    from dlsa_core.stability.report import stability_report

    start = time.perf_counter()
    prob = build_problem(key)
    spec = prob.spectral()
    arrays: dict[str, np.ndarray] = {"call": np.array(PROBLEMS[key].call), "name": np.array(prob.name)}
    if spec.space == "gram":  # ship the Gram-reduced factors (the d-dimensional Jacobians are large)
        arrays.update(lam=spec.lam, factors=spec.factors)
    elif prob.hessians is not None:
        arrays["hessians"] = prob.hessians
    else:
        arrays["jacobians"] = prob.jacobians
    if prob.gradients is not None:
        arrays["gradients"] = prob.gradients
    from dlsa_core.stability.thresholds import threshold_curve

    for repl in (False, True):  # eta*(B) at every B, so that a slider move is a lookup
        arrays[f"all{int(repl)}_eta_star"] = threshold_curve(spec, np.arange(1, spec.n + 1), replacement=repl)
    for repl in (False, True):
        rep = stability_report(prob, replacement=repl)
        for name in _region_keys():
            arrays[f"region{int(repl)}_{name}"] = np.asarray(rep[name])
        arrays[f"region{int(repl)}_mu_1"] = np.array(rep["mu_1"])
    arrays.update(n=np.array(spec.n), d=np.array(spec.d), space=np.array(spec.space))
    from dlsa_core.stability import views
    from dlsa_core.stability.thresholds import sgd_threshold

    mu = views.mu_curve(spec)
    arrays.update(mu_p=mu["p"], mu_mu=mu["mu"])
    for preset in PRESETS.values():  # the rho(Q) panel at the preset's batch size
        if preset["problem"] == key:
            b = preset["B"]
            star = sgd_threshold(spec, b)
            rc = views.rho_curve(spec, b, views.eta_grid(star, 2.0 / float(spec.lam[0])))
            arrays.update(rho_B=np.array(b), rho_eta=rc["eta"], rho_sgd=rc["sgd"], rho_gd=rc["gd"])
    if key == "digits":  # the same inputs with the real labels: a regular minimum (stationary view)
        from dlsa_core.stability.problems import digits_regular_gradients
        from dlsa_core.stability.recursion import loss_floor_curve

        grads, loss = digits_regular_gradients()
        arrays.update(regular_gradients=grads, regular_loss=np.array(loss))
        floor_b = np.array(FLOOR_BATCHES)
        fracs = np.geomspace(0.02, 0.98, 13)
        rows = []
        for b in floor_b:
            star = sgd_threshold(spec, int(b))
            rows.append(loss_floor_curve(spec, grads, int(b), fracs * star))
        arrays.update(
            floor_B=floor_b,
            floor_eta=np.array([r["eta"] for r in rows]),
            floor_loss=np.array([r["excess_loss"] for r in rows]),
            floor_dist=np.array([r["sq_dist"] for r in rows]),
        )
    arrays["seconds"] = np.array(time.perf_counter() - start)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{key}.npz"
    np.savez_compressed(path, **arrays)
    return path


def _shipped(key: str, root: Path = ASSETS) -> dict | None:
    path = root / f"{key}.npz"
    if key not in PROBLEMS or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return None
    return data if str(data.get("call")) == PROBLEMS[key].call else None


def load_problem(key: str, *, root: Path = ASSETS):
    """The problem, from the shipped file when it is current (milliseconds), else built (seconds).

    Returns
    -------
    StabilityProblem
        ``info["shipped"]`` says which; a Gram-reduced ReLU problem carries the reduction as its
        (cached) spectral form, with factors ``(n, k, r)`` standing in for the Jacobians.
    """
    from dlsa_core.stability.problems import StabilityProblem
    from dlsa_core.stability.spectral import Spectral

    data = _shipped(key, root)
    if data is None:
        prob = build_problem(key)
        prob.info["shipped"] = False
        return prob
    grads = data.get("gradients")
    if "factors" in data:
        spec = Spectral(
            lam=data["lam"], n=data["factors"].shape[0], factors=data["factors"], d=int(data["d"])
        )
        spec.space = "gram"
        prob = StabilityProblem(str(data["name"]), jacobians=data["factors"], gradients=grads)
        prob._spectral["auto"] = spec
        prob.info.update(d=int(data["d"]), n=spec.n, k=data["factors"].shape[1])
    elif "hessians" in data:
        prob = StabilityProblem(str(data["name"]), hessians=data["hessians"], gradients=grads)
    else:
        prob = StabilityProblem(str(data["name"]), jacobians=data["jacobians"], gradients=grads)
    if "regular_gradients" in data:
        prob.info.update(
            regular_gradients=data["regular_gradients"], regular_loss=float(data["regular_loss"])
        )
    prob.info["shipped"] = True
    return prob


def shipped_extras(key: str, *, root: Path = ASSETS) -> dict:
    """Other shipped curves of a problem: ``mu`` (p-axis view), ``rho`` (rho(Q) panel at the preset's B),
    ``floor`` (digits: loss floor of the regular minimum). Missing entries are absent."""
    data = _shipped(key, root)
    out: dict = {}
    if data is None:
        return out
    if "mu_p" in data:
        out["mu"] = {"p": data["mu_p"], "mu": data["mu_mu"]}
    if "rho_B" in data:
        out["rho"] = {
            "B": int(data["rho_B"]),
            "eta": data["rho_eta"],
            "sgd": data["rho_sgd"],
            "gd": data["rho_gd"],
        }
    if "floor_B" in data:
        out["floor"] = {
            "B": data["floor_B"],
            "eta": data["floor_eta"],
            "excess_loss": data["floor_loss"],
            "sq_dist": data["floor_dist"],
            "loss_at_min": float(data["regular_loss"]),
        }
    return out


def shipped_thresholds(key: str, replacement: bool, *, root: Path = ASSETS) -> np.ndarray | None:
    """Shipped ``eta*(B)`` for ``B = 1..n`` (index ``B - 1``), or ``None``."""
    data = _shipped(key, root)
    return None if data is None else data.get(f"all{int(replacement)}_eta_star")


def shipped_region(key: str, replacement: bool, *, root: Path = ASSETS) -> dict | None:
    """The precomputed batch-size curve (as :func:`stability_report` returns it), or ``None``."""
    data = _shipped(key, root)
    if data is None:
        return None
    pre = f"region{int(replacement)}_"
    rep = {name: data[pre + name] for name in _region_keys()}
    rep.update(
        lambda_max=2.0 / float(rep["eta_gd"][0]),
        mu_1=float(data[pre + "mu_1"]),
        n=int(data["n"]),
        d=int(data["d"]),
        space=str(data["space"]),
        seconds=float(data["seconds"]),
    )
    return rep


def reproduce_snippet(key: str, batch_size: int, eta: float, *, replacement: bool, steps: int) -> str:
    """Python that recomputes what the page shows at this state; it runs as printed (tested)."""
    if key not in PROBLEMS:
        raise ValueError(f"unknown problem {key!r}.")
    r = f", replacement={replacement}"
    return (
        "from dlsa_core import stability as stab\n\n"
        f"prob = {PROBLEMS[key].call}\n"
        f"B, eta = {int(batch_size)}, {float(eta)!r}\n"
        f"eta_star = stab.sgd_threshold(prob, B{r})\n"
        f"rho = stab.spectral_radius(prob, eta, B{r})\n"
        f"exact = stab.second_moment_trajectory(prob, eta, B, {int(steps)}{r})\n"
        'print(f"eta*({B}) = {eta_star:.6g}, eta/eta* = {eta / eta_star:.4f}, rho(Q) = {rho:.10f}")\n'
        'print(f"E|theta_t - theta*|^2 at t = {len(exact) - 1}: {exact[-1]:.4g}")\n'
        f"print(stab.stability_report(prob{r})['eta_star'])\n"
    )


def main(argv: list[str] | None = None) -> int:
    keys = (argv if argv is not None else sys.argv[1:]) or list(PROBLEMS)
    for key in keys:
        path = precompute(key)
        print(f"{key}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def math_lines(replacement: bool) -> tuple[list[str], str]:
    """The "The math" expander: KaTeX strings (each a complete formula) and a markdown note.

    Equations are cited by content, not number (the numbering differs between the paper's versions).
    """
    if replacement:
        p_def = r"p=\frac{1}{B}\quad\text{(batch drawn with replacement)}"
        at_n = r"\text{with replacement, } p=1/n>0 \text{ at } B=n\text{, so } \eta^*(n)<\frac{2}{\lambda_{\max}(H)}"
    else:
        p_def = r"p=\frac{n-B}{B(n-1)}\quad\text{(uniform subset, fresh every step)}"
        at_n = r"p=0 \text{ at } B=n\text{, so } \eta^*(n)=\frac{2}{\lambda_{\max}(H)}\ \text{(GD)}"
    lines = [
        r"\theta_{t+1}=\theta_t-\frac{\eta}{B}\sum_{i\in\mathcal{B}_t}H_i\,(\theta_t-\theta^*)",
        p_def,
        r"C=\tfrac12\,(H\otimes I+I\otimes H),\qquad D=(1-p)\,H\otimes H+\frac{p}{n}\sum_i H_i\otimes H_i",
        r"\mathbb{E}\|\theta_t-\theta^*\|^2\ \text{bounded}\iff\eta\le\eta^*(B)=\frac{2}{\lambda_{\max}(C^{+}D)}"
        r"\le\frac{2}{\lambda_{\max}(H)}",
        at_n,
        r"\Sigma_{t+1}=(1-p)\,A\Sigma_tA+\frac{p}{n}\sum_i A_i\Sigma_tA_i,\qquad A=I-\eta H,\ A_i=I-\eta H_i",
        r"\frac{2}{\eta^*}\ \ge\ \max_{\|v\|=1}\Big[v^\top Hv+p\,\frac{\mathrm{Var}_i(v^\top H_iv)}{v^\top Hv}\Big]"
        r"\ \ge\ \lambda_{\max}(H)",
    ]
    note = (
        "SGD has the same second moment as ALG(p), which takes a full GD step with probability 1−p and a "
        "single-sample step with probability p (the page checks this exactly on the 2-D problems by averaging "
        "over every batch). η* is non-decreasing in B. λmax(C⁺D) is computed exactly on symmetric matrices over "
        "range(H): densely for tiny d, otherwise by Rayleigh–Ritz on one subspace shared by every B (each value "
        "certified by its residual), and for the ReLU net through the Gram (NTK) reduction A_i = K^½E_iK^½. "
        "Mean-square stability (this threshold) is not almost-sure stability: single runs can converge above η*; "
        "the Lyapunov exponent estimated from the runs says which happens. Equations are cited by content: their "
        "numbers differ between the paper's versions."
    )
    return lines, note


# ---------------------------------------------------------------------------------------------
# Shipped-or-computed accessors (the page caches them; each takes the loaded problem)
# ---------------------------------------------------------------------------------------------


def blas_limits():
    """Context manager: BLAS follows the app's thread policy (1 thread on a small shared CPU, where
    oversubscribed BLAS threads were measured 10-20x slower under load)."""
    from threadpoolctl import threadpool_limits

    from dlsa_core.device import recommended_threads

    return threadpool_limits(limits=recommended_threads(), user_api="blas")


def region_for(prob, key: str, replacement: bool) -> dict:
    """The batch-size curve: shipped when current (``shipped=True``), else computed (``seconds``)."""
    from dlsa_core.stability.report import stability_report

    rep = shipped_region(key, replacement)
    if rep is not None:
        return {**rep, "shipped": True}
    start = time.perf_counter()
    with blas_limits():
        rep = stability_report(prob, replacement=replacement)
    return {**rep, "seconds": time.perf_counter() - start, "shipped": False}


def threshold_for(prob, key: str, batch_size: int, replacement: bool) -> float:
    """``eta*(B)``: a lookup in the shipped table, else computed."""
    from dlsa_core.stability.thresholds import sgd_threshold

    table = shipped_thresholds(key, replacement)
    if table is not None and 1 <= batch_size <= len(table):
        return float(table[batch_size - 1])
    with blas_limits():
        return sgd_threshold(prob, batch_size, replacement=replacement)


def rho_for(prob, key: str, batch_size: int, replacement: bool, eta_star: float) -> dict:
    """``rho(Q)`` along eta for the panel: shipped at the preset's B, else computed (fewer points when
    the reduced problem is large: ~0.15 s per point for the ReLU net)."""
    from dlsa_core.stability import views

    ship = shipped_extras(key).get("rho")
    if ship is not None and ship["B"] == batch_size and not replacement:
        return ship
    spec = prob.spectral()
    grid = views.eta_grid(eta_star, 2.0 / float(spec.lam[0]), 25 if spec.r <= 64 else 9)
    with blas_limits():
        return views.rho_curve(spec, batch_size, grid, replacement=replacement)


def mu_for(prob, key: str) -> dict:
    """``mu(p)`` with its sandwich bounds, shipped when current."""
    from dlsa_core.stability import views

    spec = prob.spectral()
    ship = shipped_extras(key).get("mu")
    if ship is None:
        with blas_limits():
            return views.mu_curve(spec)
    lam, mu1 = float(spec.lam[0]), float(ship["mu"][-1])
    return {**ship, "lambda_max": lam, "mu_1": mu1}


def mean_hessian(prob) -> np.ndarray:
    """``H = mean_i H_i`` in parameter space, (d, d) float64 (for the 2-D path plot)."""
    if prob.hessians is not None:
        return prob.hessians.mean(axis=0)
    return np.einsum("nki,nkj->ij", prob.jacobians, prob.jacobians) / prob.n
