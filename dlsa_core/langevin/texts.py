"""Captions and equations of the Langevin page, computed from results (no Streamlit here)."""

from __future__ import annotations

MATH = [
    r"d\theta=-P\nabla L\,dt+\mathcal D^{1/2}dW,\qquad A=P^{1/2}HP^{1/2}=V\Lambda V^\top,\ "
    r"s=\operatorname{diag}(V^\top P^{-1/2}\mathcal DP^{-1/2}V)",
    r"\mathbb E[L(\theta_t)]-L^*=\sum_{\lambda_a>0}\tfrac12\lambda_a m_a^2e^{-2\lambda_at}+\tfrac14 s_a\big(1-e^{-2\lambda_at}\big)",
    r"\mathbb E[L_\infty]-L^*=\tfrac14\operatorname{tr}\big(\Pi_AP^{-1/2}\mathcal DP^{-1/2}\big)\ "
    r"\overset{\mathcal D=cP}{=}\ \frac{c\,\operatorname{rank}(H)}{4}",
    r"\text{discrete: }\sum_a\frac{s_a}{2(2-\eta\lambda_a)},\qquad "
    r"\text{midpoint reads }L\big(\tfrac{\theta_t+\theta_{t+1}}2\big):\ \sum_a\frac{s_a}{4}",
    r"\widehat{\operatorname{rank}}=\frac4c\big(\langle L\rangle_{\rm time}-L(\theta_0)\big),\qquad "
    r"\operatorname{rank}_{\rm GN}(W_K\cdots W_1)=q(d_0+d_K-q),\ q=\min_i d_i",
]
MATH_NOTES = (
    "The loss sees only the range of H; with D = cP each of its modes holds c/4 at equilibrium (equipartition), "
    "whatever its curvature. **Ours** (deep linear nets): a Kronecker preconditioner per layer, "
    "½(BₖᵀBₖ+δ)⁻¹ ⊗ (CₖCₖᵀ+δ)⁻¹ built from the weights alone, makes every rate ≈ K, so runs relax in a few "
    "steps; the paper's P = I leaves rates near 1e-3 that do not relax in 15,000 steps. The midpoint read and the "
    "Kronecker preconditioner are this app's additions (derived here, not in the paper). **Baseline**: Ubaru & "
    "Saad's KPM density gap + Chebyshev eigencount on Hessian-vector products (degree 50; 60 probe vectors here, "
    "300 in the benchmark)."
)


def playground_summary(rep: dict, runs: int) -> str:
    agree = abs(rep["measured"] - rep["window_theory"]) <= 3 * rep["measured_se"]
    ratio = rep["level_discrete"] / rep["rank_level"]
    level = (
        "The stationary level equals c·rank/4."
        if abs(ratio - 1) < 1e-6
        else f"The stationary level is {ratio:.3g}× c·rank/4 (unmatched noise, or the step's 2/(2−ηλ) factor)."
    )
    return (
        f"**η = {rep['eta']:.3g}; rates λ(P½HP½) from {rep['lam_min']:.3g} to {rep['lam_max']:.3g}.** Over the "
        f"second half the closed form predicts {rep['window_theory']:.4g}; {runs} runs measured "
        f"{rep['measured']:.4g} ± {2 * rep['measured_se']:.2g} ({'agree' if agree else 'DISAGREE'} within 3 SE). "
        + level
    )


def spread_caption(sp: dict, *, matched: bool, noise: float, dim: int, rank: int) -> str:
    head = f"Continuous-time levels over the spectrum spread at n = {dim}, rank {rank}, c = {noise:g}. "
    if matched:
        return (
            head
            + f"With D = cP all four coincide at c·rank/4 = {noise * rank / 4:.4g}: only the rank matters."
        )
    own = sp["own"]
    return head + (
        f"With its own noise SGD-like moves from {own['identity'][0]:.3g} to {own['identity'][-1]:.3g} and "
        f"Adam-like from {own['adam'][0]:.3g} to {own['adam'][-1]:.3g}; the matched ones stay at {noise * rank / 4:.4g}."
    )


def rank_summary(run, row: dict, *, shipped=False) -> str:
    base = (
        f"; the baseline took {row['baseline_s']:.2f} s and is off by {row['baseline_err_pct']:+.1f} %"
        if row.get("baseline") is not None
        else ""
    )
    when = " (precomputed by `python -m dlsa_core.langevin.shipped`, shipped with the app)" if shipped else ""
    return (
        f"**{run.runs} runs × {run.steps:,} steps (η = {run.eta:g}, c = {run.noise:g}, averaged after "
        f"{run.burn_in:,}) in {run.seconds:.2f} s{when}: rank ≈ {run.estimate.rank:,.1f} ± {2 * run.estimate.stderr:.1f} "
        f"for {run.true_rank:,} ({run.error_pct:+.2f} %).** The closed form for this finite window expects "
        f"{run.expected:,.1f}; rates λ(P½HP½) span {run.lam_min:.3g}–{run.lam_max:.3g}{base}."
    )


def regime_caption(reg: dict, *, noise: float, dim: int, rank: int, spread: float) -> str:
    lower = "Adam-like" if noise > reg["boundary"] else "SGD-like"
    return (
        f"Gradient noise Σ = cH on the playground's H (n = {dim}, rank {rank}, {spread:g} decades). SGD-like sits at "
        f"c·tr(H)/4, Adam-like at √c·Σ√H_jj/4; they cross at c* = (Σ√H_jj / tr H)² = {reg['boundary']:.3g}. "
        f"At c = {noise:g}, {lower} is lower. Closed form; to measure a point, pick SGD-like or Adam-like in the "
        "playground with matched noise off."
    )


def baseline_caption(kpm, lam, n_params: int) -> str:
    below = int((lam < kpm.threshold).sum())
    return (
        f"The degree-50 KPM density cannot resolve the {lam.size:,} non-zero eigenvalues, which span "
        f"{lam.min():.2g}–{lam.max():.3g}, from the spike of {n_params - lam.size:,} zeros: its first gap puts "
        f"the threshold at ε = {kpm.threshold:.3g}, and {below:,} true non-zero eigenvalues ({100 * below / lam.size:.0f} %) "
        "lie below it and are not counted."
    )
