"""The one place that chooses the torch device, the default dtype, seeds and CPU threads.

Every torch entry point in ``dlsa_core`` takes ``device=None`` and resolves it with
:func:`get_device`, so a user can move the whole app to another device with one environment
variable (``DLSA_DEVICE=cpu|cuda|cuda:1|mps``).
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is used: pages that never touch it paint ~1.5 s sooner
    import torch

ENV_DEVICE = "DLSA_DEVICE"
ENV_THREADS = "DLSA_NUM_THREADS"
ENV_DTYPE = "DLSA_DTYPE"

_DTYPES = ("float32", "float64")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Resolve the torch device to use.

    Parameters
    ----------
    device : str or torch.device or None
        An explicit choice wins. ``None`` means: the ``DLSA_DEVICE`` environment variable if set,
        else CUDA, else Apple MPS, else CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the requested device string is malformed or names a backend that is not available.
    """
    import torch

    if device is None:
        device = os.environ.get(ENV_DEVICE) or None
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"Unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'mps'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was requested but CUDA is not available here.")
    if resolved.type == "mps" and not _mps_available():
        raise ValueError(f"Device {device!r} was requested but Apple MPS is not available here.")
    return resolved


def device_name(device: str | torch.device | None = None) -> str:
    """Human-readable name of the device: ``"cpu"``, ``"mps"`` or the GPU's product name."""
    import torch

    resolved = get_device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)
    return resolved.type


def default_dtype() -> torch.dtype:
    """Floating dtype for models and tensors (``float32`` unless ``DLSA_DTYPE=float64``).

    Theory checks that need exactness ask for float64 explicitly; this is for models.
    """
    import torch

    name = os.environ.get(ENV_DTYPE, "float32")
    if name not in _DTYPES:
        raise ValueError(f"{ENV_DTYPE}={name!r} is not one of {sorted(_DTYPES)}.")
    return getattr(torch, name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global generators (all CUDA devices too).

    Returns a CPU ``torch.Generator`` seeded with the same value, for code that prefers an
    explicit generator over global state.
    """
    import torch

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- legacy global state is what old code paths read
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def recommended_threads(cpu_count: int | None = None) -> int:
    """Thread-count policy for torch on this machine.

    Small CPUs (up to 4 cores) get one thread: on a shared 2-core runner torch's default of two
    threads was measured 2-25x slower than one under background load (a Streamlit server and a
    browser compete for the cores). Larger machines get half their cores, at most 8.
    ``DLSA_NUM_THREADS`` overrides the policy.
    """
    env = os.environ.get(ENV_THREADS)
    if env:
        try:
            value = int(env)
        except ValueError as exc:
            raise ValueError(f"{ENV_THREADS}={env!r} is not an integer.") from exc
        if value < 1:
            raise ValueError(f"{ENV_THREADS} must be >= 1, got {value}.")
        return value
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    if cores <= 4:
        return 1
    return min(8, cores // 2)


def configure_threads(n: int | None = None) -> int:
    """Apply the thread policy (or ``n``) to torch and to the BLAS/OpenMP pools; return the count used.

    The BLAS pools matter as much as torch's: with other processes on a 2-core machine, numpy/scipy
    with two threads was measured 5-13x slower than with one (a QR took 1.4 s instead of 0.05 s).
    """
    import torch

    threads = recommended_threads() if n is None else int(n)
    if threads < 1:
        raise ValueError(f"thread count must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    try:
        import scipy.linalg  # noqa: F401  -- load scipy's own OpenBLAS so that the limit reaches it too
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it only torch is limited
        return threads
    threadpool_limits(limits=threads)
    return threads
