"""Text computed from a fit, for the page (captions, the "what to notice" line, warnings).

Every number in these strings is read from the :class:`~dlsa_core.jointly_smooth.analysis.Analysis` it
describes, so a caption cannot go stale when a control changes. No Streamlit here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dlsa_core.jointly_smooth.analysis import (
    CUTOFF,
    KERNEL_LABELS,
    KERNEL_OPTIONS,
    Analysis,
    circular_latents,
)

#: Data-set blurbs: what the views share and what each adds (ground truth of the generators).
SHARED_STORY = {
    "spiral_torus": "z (across the spiral strip, around the torus tube); nuisances a and b",
    "parameter_redundancy": (
        "only p1 + p2³ (the steady state depends on nothing else of p1, p2); nuisances u, the position "
        "along p1 + p2³ = const (independent of it by construction), and p3"
    ),
    "digits": "the digit; nuisances: the stripe phase φ of each sensor, the shift and the gain",
}


def short(name: str) -> str:
    """``"view 0 nuisance: a (along the spiral)"`` -> ``"a (along the spiral)"``."""
    return name.split(": ", 1)[-1]


def bandwidth_text(kernel: str, scale: float, eps: float | None = None) -> str:
    """What the bandwidth slider means for this kernel (the k-NN kernel uses another reference length)."""
    val = f" = {eps:.3g}" if eps is not None else ""
    if kernel == "knn":
        k = KERNEL_OPTIONS["knn"]["n_neighbors"]
        return f"ε{val} = (s / 0.3) × median distance to the {k}th neighbour, s = {scale:g}"
    return f"ε{val} = s × median pairwise distance, s = {scale:g}"


def function_note(res: Analysis, i: int) -> str:
    """One clause on what f_i is, from its measured R^2 and energy."""
    name = res.shared_name()
    r2 = float(res.r2[name][i])
    if (
        i == 0
        and res.params["kernel"] != "knn"
        and np.std(res.functions[:, 0]) < 0.5 * np.abs(res.functions[:, 0]).mean()
    ):
        return "f0 is the near-constant function (it tracks the sample density)"
    if not res.significant(i):
        return f"f{i} does not clear the noise floor: treat it as noise (R² vs {short(name)} {r2:.2f})"
    if r2 > 0.9:
        return f"f{i} is a clean curve of {short(name)} (R² {r2:.2f})"
    return f"f{i} clears the noise floor but is only partly explained by {short(name)} (R² {r2:.2f})"


def main_caption(res: Analysis, i: int) -> str:
    """The caption under the views: energy against E0 + margin, the count, R^2 vs shared and nuisances."""
    p, f = res.params, res.floor
    name = res.shared_name()
    nuis = {k: float(v[i]) for k, v in res.r2.items() if k != name}
    worst = max(nuis, key=nuis.get) if nuis else None
    clears = "clears" if res.significant(i) else "does not clear"
    text = (
        f"f{i} on N = {res.train.n_samples:,} paired samples, d = {p['n_kernel_eigenvectors']} eigenvectors "
        f"per view, {bandwidth_text(p['kernel'], p['bandwidth_scale'])} ({KERNEL_LABELS[p['kernel']]}). "
        f"Its smooth energy σ²/K = {res.energy[i]:.4f} {clears} E0 + margin = {f.e0:.4f} + {f.margin:.4f} "
        f"({f.method} E0; margin: the permutation null's {f.level:.0%} quantile above its median, "
        f"{len(f.null)} permutations). {res.n_significant} functions clear it (f0 included, whole spectrum). "
        f"R² against {short(name)} = {res.r2[name][i]:.2f}"
    )
    if worst is not None:
        text += f"; the largest R² against a nuisance is {nuis[worst]:.2f} ({short(worst)})"
    return text + f". {function_note(res, i)}."


def what_to_notice(res: Analysis) -> str:
    """The "what to notice" line, built from the current fit (not from the preset's name)."""
    p, name = res.params, res.shared_name()
    good = [i for i in range(1, len(res.energy)) if res.significant(i) and res.r2[name][i] > 0.9]
    d, N = p["n_kernel_eigenvectors"], res.train.n_samples
    parts = [f"The views share {SHARED_STORY[p['dataset']]}."]
    if good:
        fs = ", ".join(f"f{i}" for i in good[:4])
        parts.append(f"{fs}: clean curve(s) of {short(name)}, clouds against every nuisance.")
    else:
        parts.append(f"No function past f0 is both above the floor and a clean curve of {short(name)}.")
    weak = res.n_significant - 1 - len(good)
    if weak > 0:
        parts.append(
            f"{weak} more clear E0 + margin without being a clean curve of {short(name)}: at d/N = "
            f"{d / N:.2f} the floor ({res.floor.e0:.3f}) lets harmonics and artefacts through."
        )
    if rank_warning(res):
        parts.append("Too many eigenvectors for the kernel's numerical rank: see the warning.")
    if p["dataset"] == "digits":
        parts.append("Stripes, shifts and gains are rejected; turn on the comparison for accuracies.")
    return " ".join(parts)


def rank_warning(res: Analysis) -> str | None:
    """A warning when a view's d eigenvectors go below the cut-off (numerical noise counted as smooth)."""
    d = res.params["n_kernel_eigenvectors"]
    low = [(k, m) for k, m in enumerate(res.n_extension_eigenvectors) if m < d]
    if not low:
        return None
    views = "; ".join(
        f"view {k}: {m} of {d} (λ_d/λ_1 = {res.eigenvalues[k][-1] / res.eigenvalues[k][0]:.1e})"
        for k, m in low
    )
    return (
        f"Numerical rank: only some of the d = {d} kernel eigenvalues are above the cut-off "
        f"{CUTOFF:g} × λ_1 ({views}). The rest are round-off, not smooth functions: energies near 1 from "
        "them are artefacts and the Nyström extension drops them. Lower d or raise the bandwidth s."
    )


def slow_fit_warning(kernel: str, n: int, d: int) -> str | None:
    """A heads-up before a fit that takes long on 2 CPU cores (measured: k-NN at 20,000, d = 150: ~40 s)."""
    if kernel == "knn" and n > 5000:
        est = 40.0 * (n / 20000) * (d / 150)
        return (
            f"The k-NN (sparse) kernel at N = {n:,} takes about {est:.0f} s on 2 CPU cores (the sparse "
            "eigensolver, ARPACK, needs many iterations for a slowly decaying spectrum). Gaussian "
            "(landmarks) gives the paper's kernel at this N in a few seconds."
        )
    return None


def null_help(res: Analysis) -> str:
    f = res.floor
    lo, hi = f.band
    return (
        f"Analytic E0 (random subspaces) {f.analytic:.4f}; permutation E0 (median of {len(f.null)} shuffles of "
        f"view 1's rows) {f.permutation:.4f}, 5-95 % band [{lo:.4f}, {hi:.4f}]. A function counts when its "
        f"energy exceeds E0 + margin = {f.cut:.4f}."
    )


def curves_caption(res: Analysis, i: int) -> str:
    name = short(res.shared_name())
    text = (
        f"A clean curve against {name} and a cloud against every nuisance is the claim: the function depends "
        "only on what the views share."
    )
    if res.extended:
        text += (
            f" Crosses: {res.test.n_samples} fresh samples, f{i} extended by Nyström from one view alone and "
            f"drawn at their true {name}."
        )
    if circular_latents(res.train):
        text += " A phase φ is scored jointly through (cos φ, sin φ): it has no ends."
    return text


def energy_caption(res: Analysis) -> str:
    f = res.floor
    return (
        f"All {len(res.spectrum)} energies (the first 40 drawn); {res.n_significant} clear E0 + margin = "
        f"{f.cut:.4f}. Grey band: where the largest energy of unrelated views falls in 90 % of "
        f"{len(f.null)} permutations. Fit + null took {res.fit_seconds:.2f} s on cpu."
    )


def spectrum_caption(res: Analysis) -> str:
    d = res.params["n_kernel_eigenvectors"]
    kept = ", ".join(f"view {k}: {m}" for k, m in enumerate(res.n_extension_eigenvectors))
    return (
        f"Eigenvalues above {CUTOFF:g} λ_1 of the d = {d} used ({kept}). Below the cut-off an eigenvector is "
        "round-off: it still raises the energies, but the Nyström extension (which divides by λ_j) must drop it."
    )


def extension_table(res: Analysis, check) -> pd.DataFrame:
    """Rows: views; columns: the relative held-out error of each function above E0 + margin."""
    table = pd.DataFrame({"extended from": [f"view {k}: {n}" for k, n in enumerate(res.train.view_names)]})
    for j, i in enumerate(check.indices):
        table[f"f{i}"] = np.round(check.errors[:, j], 3)
    table["eigenvectors used"] = res.n_extension_eigenvectors
    return table


def extension_caption(res: Analysis, check) -> str:
    if not check.indices:
        return (
            "No function clears E0 + margin, so there is nothing whose extension should agree with a refit."
        )
    fs = ", ".join(f"f{i}" for i in check.indices)
    return (
        f"Relative RMS difference at the {res.test.n_samples} held-out samples between the Nyström extension "
        f"from one view and a refit on training + held-out rows (aligned to this fit by least squares on "
        f"the training rows; alignment residual {', '.join(f'{r:.3f}' for r in check.align_residual)}), for "
        f"the functions above E0 + margin ({fs}). A single view holds only part of a function "
        f"(energy σ²/K < 1), so some error is expected. Refit took {check.seconds:.2f} s."
    )


def sweep_caption(rows, d: int, s: float) -> str:
    if not rows:
        return "No sweep point could be fitted at these settings."
    worst = max(rows, key=lambda r: r["above"] - r["depends"])
    return (
        f"{len(rows)} fits at N = {rows[0]['N']:,} (capped for the sweep). Where the two counts part, E0 lets "
        f"through functions that are not curves of the shared variable: the widest gap is at d = {worst['d']}, "
        f"s = {worst['s']:g} ({worst['above']} pass, {worst['depends']} with R² > 0.9). Right: the held-out "
        "extension against a refit (median over views and passing functions)."
    )


def comparison_caption(comp, j: int) -> str:
    cc = ", ".join(f"{c:.3f}" for c in comp.canonical_correlations[:8])
    return (
        f"Feature #{j + 1} of each method on the page's training rows (the near-constant first feature of the "
        f"uncentred kernels dropped, so #{j + 1} of jointly smooth is f{j + 1}). Linear CCA canonical "
        f"correlations: {cc}…; kernel CCA ridge κ = {comp.ridge:.0e} × λ_1 (κ → 0 with a hard truncation is "
        "the jointly smooth method). Fit times: "
        + ", ".join(f"{m} {t:.2f} s" for m, t in comp.seconds.items())
        + "."
    )


MATH = [
    r"\text{views } k=1,\dots,K\ (\text{here }K=2):\quad x^{(k)}_i,\ i=1,\dots,N\ \text{paired samples}",
    r"\kappa_k(x,x')=\exp\!\big(-\|x-x'\|^2/\varepsilon_k^2\big),\quad "
    r"\varepsilon_k = s\cdot\operatorname{median}_{i<j}\|x^{(k)}_i-x^{(k)}_j\|",
    r"\mathbf K_k\,W_k = W_k\Lambda_k,\quad W_k\in\mathbb{R}^{N\times d}\ \text{(top } d\text{ eigenvectors of the kernel matrix } \mathbf K_k)",
    r"[W_1,\dots,W_K] = U\Sigma V^\top,\quad f_i = u_i,\quad \sigma_i^2=\textstyle\sum_k\|W_k^\top f_i\|^2\in[0,K]",
    r"K=2:\ W_1^\top W_2 = Q\Gamma R^\top,\ \ \sigma_i^2 = 1+\gamma_i,\ \ "
    r"f_i=\frac{W_1q_i+W_2r_i}{\sqrt{2(1+\gamma_i)}}",
    r"E_0\approx\tfrac12+\frac{\sqrt{(d-\frac12)(N-d-\frac12)}}{N-1},\qquad "
    r"\text{count } i:\ \sigma_i^2/K > E_0 + \big(q_{95}-q_{50}\big)_{\text{permutation null}}",
    r"\tilde f(x)=\kappa_k(x,X_k)\,W_k'\,\Lambda_k'^{-1}W_k'^\top f,\quad "
    r"W_k',\Lambda_k':\ \lambda_j\ge 10^{-5}\lambda_1\ \text{(cut-off)}",
    r"\text{k-NN: } w_{ij}=e^{-\|x_i-x_j\|^2/\varepsilon^2}\ \text{if } j\in\mathcal N_{30}(i)\text{ or } i\in\mathcal N_{30}(j),"
    r"\ \ \mathbf K = D^{-1/2}WD^{-1/2},\ \ \varepsilon=\tfrac{s}{0.3}\operatorname{median}_i r_{30}(i)",
    r"\text{landmarks } L\ (m=1500):\ \mathbf K\approx GG^\top,\ G=\kappa(X,L)\,U_d\Lambda_{L,d}^{-1/2},\ "
    r"W_k,\ \Lambda_k\ \text{from the thin SVD of } G",
]
MATH_NOTE = (
    "K counts the views; the bold **K**_k is a view's kernel matrix. σ² = K exactly when f lies in every "
    "view's smooth subspace, so the top singular vectors are the functions smooth on all views at once; they "
    "can only depend on what the views share. E0 is the energy two unrelated views would already give "
    "(analytic, or by shuffling one view's rows); the margin is the spread of that null, so a function "
    "barely above E0 is not counted."
)
HOW = (
    "`dlsa_core.jointly_smooth.analysis.analyse` fits `JointlySmoothFunctions`, computes E0 and the permutation "
    "null with `threshold.noise_floor`, scores every function with `metrics.curve_r2` (out-of-fold k-NN "
    "regression; a phase through (cos φ, sin φ)) and extends to held-out samples with `transform_views`. "
    "`validation.extension_check` refits with the held-out rows; `validation.sweep_point` is one sweep fit."
)


def metrics(res: Analysis, i: int) -> list[dict]:
    """The four ``st.metric`` keyword sets under the views (energy vs E0 + margin, E0, R^2 shared/nuisance)."""
    shared = res.shared_name()
    nuis = {k: float(v[i]) for k, v in res.r2.items() if k != shared}
    worst = max(nuis, key=nuis.get)
    f = res.floor
    return [
        dict(label=f"Energy σ²/K of f{i}", value=f"{res.energy[i]:.4f}",
             delta=f"{res.energy[i] - f.cut:+.4f} vs E0 + margin"),
        dict(label=f"E0 ({f.method}) · margin {f.margin:.4f}", value=f"{f.e0:.4f}", help=null_help(res)),
        dict(label=f"R² vs {short(shared)} (shared)", value=f"{res.r2[shared][i]:.2f}"),
        dict(label="Largest R² vs a nuisance", value=f"{nuis[worst]:.2f}", help=short(worst)),
    ]  # fmt: skip


def functions_csv(res: Analysis) -> str:
    """The functions and the shared variable(s) on the training rows, as CSV text."""
    frame = pd.DataFrame(res.functions, columns=[f"f{k}" for k in range(res.functions.shape[1])])
    for k, v in res.train.shared.items():
        frame.insert(0, k, v)
    return frame.to_csv(index=False, float_format="%.6g")


def state_json(res: Analysis, controls: dict) -> str:
    """The controls plus the measured floor, count and spectrum, as JSON text."""
    import json

    floor = {"E0": res.floor.e0, "margin": res.floor.margin, "null": np.round(res.floor.null, 6).tolist()}
    payload = {**controls, **floor, "count": res.n_significant, "spectrum": res.spectrum.round(6).tolist()}
    return json.dumps(payload, indent=2, default=str)


def digits_caption(res: Analysis) -> str:
    """Digits: what the (f1, f2, f3) scatter and the sample images show, with the measured leakage."""
    name = res.shared_name()
    leak = {short(k): float(np.max(v[1:4])) for k, v in res.r2.items() if k != name}
    worst = max(leak, key=leak.get)
    return (
        "Top: the same digits through both sensors (view 0: cyclic shift + vertical stripes; view 1: gain + "
        "horizontal stripes). Left: f1-f3 of the jointly smooth functions, one colour per digit: the classes "
        f"separate although no label was used. Leakage of f1-f3 into the sensors' nuisances: largest R² "
        f"{leak[worst]:.2f} ({worst}; a phase φ scored jointly on (cos φ, sin φ)). Turn on the comparison below "
        "for each single view, CCA and kernel CCA, with cross-validated accuracies."
    )
