"""The app's curated settings for the jointly smooth functions page (plain values, as in the URL)."""

from __future__ import annotations

#: Data set key -> the label the page shows.
DATASET_LABELS = {
    "spiral_torus": "Spiral + torus",
    "parameter_redundancy": "Parameter redundancy",
    "digits": "Corrupted digits",
}
#: URL keys a preset sets.
FIELDS = ("jsf.dataset", "jsf.n", "jsf.d", "jsf.scale", "jsf.kernel")
#: Preset key -> {URL key: value}. The page also uses these values as its widgets' defaults.
PRESETS = {
    key: dict(zip(FIELDS, values, strict=True))
    for key, values in {
        "paper_toy": ("spiral_torus", 1000, 100, 0.3, "gaussian"),
        "too_many_eigenvectors": ("spiral_torus", 1000, 400, 0.3, "gaussian"),
        "parameter_redundancy": ("parameter_redundancy", 1000, 100, 0.3, "gaussian"),
        "digits": ("digits", 1000, 100, 1.0, "gaussian"),
        "large_n": ("spiral_torus", 20000, 150, 0.3, "landmarks"),
    }.items()
}
PRESET_LABELS = {
    "paper_toy": "Paper toy (d = 100)",
    "too_many_eigenvectors": "Too many eigenvectors (d = 400)",
    "parameter_redundancy": "Parameter redundancy",
    "digits": "Digits, two corrupted sensors",
    "large_n": "Large N (20,000, landmarks)",
}
