"""The topics of the app: one entry per page, used by ``app.py`` (navigation) and the home page.

A topic is listed only when its page file exists, so the app never shows "coming soon" stubs.
This module is metadata only: no Streamlit import, no maths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SECTIONS = (
    "Posteriors",
    "Diffusion latent space",
    "Optimization & stability",
    "Manifold learning",
)


@dataclass(frozen=True)
class Topic:
    """One page of the app and the paper behind it."""

    key: str
    section: str
    title: str
    page_file: str  # relative to the repository root
    url_path: str  # underscores, not hyphens: streamlit 1.67 fails to resolve deep links with hyphens
    icon: str  # an emoji: Material icons come from a font CDN and are missing offline
    paper: str
    claim: str
    what_you_can_do: str

    @property
    def exists(self) -> bool:
        return (ROOT / self.page_file).is_file()


TOPICS: tuple[Topic, ...] = (
    Topic(
        key="posterior_trees",
        section="Posteriors",
        title="Posterior trees",
        page_file="app_pages/posterior_trees.py",
        url_path="posterior_trees",
        icon="🌳",
        paper="Nehme, Mulayoff, Michaeli — Hierarchical uncertainty exploration via feedforward "
        "posterior trees, NeurIPS 2024",
        claim="One forward pass predicts a tree of posterior modes with their probabilities, "
        "matching sample-and-cluster baselines at a fraction of the cost.",
        what_you_can_do="Degrade a digit, then browse the predicted tree of plausible restorations "
        "node by node and compare it with diffusion sampling plus hierarchical k-means.",
    ),
    Topic(
        key="hspace",
        section="Diffusion latent space",
        title="h-space directions",
        page_file="app_pages/hspace_directions.py",
        url_path="hspace_directions",
        icon="🎚️",
        paper="Haas, Huberman-Spiegelglas, Mulayoff, Graßhof, Brandt, Michaeli — Discovering "
        "interpretable directions in h-space of diffusion models, FG 2024",
        claim="Linear directions in the U-Net bottleneck of a DDPM, found without or with "
        "supervision, give interpretable edits when applied at every sampling step.",
        what_you_can_do="Drag direction sliders and watch a generated or inverted digit change live.",
    ),
    Topic(
        key="sgd_stability",
        section="Optimization & stability",
        title="SGD vs GD stability",
        page_file="app_pages/sgd_stability.py",
        url_path="sgd_stability",
        icon="📈",
        paper="Mulayoff & Michaeli — Exact mean square linear stability analysis for SGD, COLT 2024",
        claim="SGD near a minimum is mean-square stable iff the step size is below "
        "2/λmax(C⁺D), a threshold that never exceeds GD's and grows with the batch size.",
        what_you_can_do="Move the step size and batch size across the exact stability boundary and "
        "watch the second moment of SGD switch between decay and blow-up, theory beside simulation.",
    ),
    Topic(
        key="relu_smoothness",
        section="Optimization & stability",
        title="Stable ReLU nets are smooth",
        page_file="app_pages/relu_smoothness.py",
        url_path="relu_smoothness",
        icon="〰️",
        paper="Shpigel Nacson, Mulayoff, Ongie, Michaeli, Soudry — The implicit bias of minima stability in "
        "multivariate shallow ReLU networks, ICLR 2023",
        claim="Minima that GD with step size η can stably reach have a weighted total variation of "
        "the Laplacian at most 1/η − 1/2: large steps force smooth interpolants.",
        what_you_can_do="Train shallow ReLU nets with different step sizes and compare the measured "
        "smoothness with the bound.",
    ),
    Topic(
        key="flat_minima",
        section="Optimization & stability",
        title="Flat minima of deep linear nets",
        page_file="app_pages/flat_minima.py",
        url_path="flat_minima",
        icon="⛰️",
        paper="Mulayoff & Michaeli — Unique properties of flat minima in deep networks, ICML 2020",
        claim="Flat minima of deep linear networks are balanced across layers with coupled "
        "consecutive layers.",
        what_you_can_do="Explore the minima of a deep linear net and see sharpness against balance.",
    ),
    Topic(
        key="langevin",
        section="Optimization & stability",
        title="Langevin dynamics reveal Hessian rank",
        page_file="app_pages/langevin_rank.py",
        url_path="langevin_rank",
        icon="🎲",
        paper="Bar, Mulayoff, Michaeli, Talmon — The expected loss of preconditioned Langevin "
        "dynamics reveals the Hessian rank, AAAI 2024",
        claim="The stationary expected loss of suitably preconditioned Langevin dynamics equals "
        "(noise scale × rank H)/4.",
        what_you_can_do="Run Langevin dynamics near a minimum and read the Hessian rank off the loss.",
    ),
    Topic(
        key="jointly_smooth",
        section="Manifold learning",
        title="Jointly smooth functions",
        page_file="app_pages/jointly_smooth.py",
        url_path="jointly_smooth",
        icon="🔗",
        paper="Dietrich, Yair, Mulayoff, Talmon, Kevrekidis — Spectral discovery of jointly smooth "
        "features for multimodal data, SIMODS 2022",
        claim="Functions smooth on every sensor's view capture what the sensors share and reject "
        "each sensor's nuisance.",
        what_you_can_do="Pick a multi-view dataset, colour every view by a jointly smooth function "
        "and compare with CCA and kernel baselines.",
    ),
)


def available_topics() -> list[Topic]:
    """Topics whose page file exists, in the order of ``SECTIONS`` then declaration."""
    order = {name: i for i, name in enumerate(SECTIONS)}
    present = [t for t in TOPICS if t.exists]
    return sorted(present, key=lambda t: order[t.section])


def topic(key: str) -> Topic:
    """Look up a topic by key."""
    for t in TOPICS:
        if t.key == key:
            return t
    raise KeyError(key)
