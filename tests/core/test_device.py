import numpy as np
import pytest
import torch

from dlsa_core import device as dev


def test_env_override_selects_cpu(monkeypatch):
    monkeypatch.setenv("DLSA_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")
    assert dev.device_name() == "cpu"


def test_explicit_argument_beats_env(monkeypatch):
    monkeypatch.setenv("DLSA_DEVICE", "definitely-not-a-device")
    assert dev.get_device("cpu") == torch.device("cpu")


def test_malformed_device_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DLSA_DEVICE", "gpu-please")
    with pytest.raises(ValueError, match="Unknown device"):
        dev.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_cuda_requested_without_cuda_is_refused():
    with pytest.raises(ValueError, match="CUDA is not available"):
        dev.get_device("cuda")


def test_auto_choice_without_accelerators(monkeypatch):
    monkeypatch.delenv("DLSA_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert dev.get_device() == torch.device("cpu")


def test_auto_choice_prefers_cuda(monkeypatch):
    monkeypatch.delenv("DLSA_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device().type == "cuda"


def test_seed_everything_is_reproducible():
    dev.seed_everything(123)
    a = (torch.randn(3), np.random.rand(3))  # noqa: NPY002
    dev.seed_everything(123)
    b = (torch.randn(3), np.random.rand(3))  # noqa: NPY002
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    g1, g2 = dev.seed_everything(7), dev.seed_everything(7)
    assert torch.equal(torch.rand(2, generator=g1), torch.rand(2, generator=g2))


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises((ValueError, TypeError)):
        dev.seed_everything(bad)


def test_thread_policy(monkeypatch):
    monkeypatch.delenv("DLSA_NUM_THREADS", raising=False)
    assert dev.recommended_threads(2) == 1
    assert dev.recommended_threads(4) == 1
    assert dev.recommended_threads(16) == 8
    assert dev.recommended_threads(10) == 5
    monkeypatch.setenv("DLSA_NUM_THREADS", "3")
    assert dev.recommended_threads(2) == 3
    monkeypatch.setenv("DLSA_NUM_THREADS", "zero")
    with pytest.raises(ValueError):
        dev.recommended_threads()


def test_configure_threads_applies(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert dev.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_dtype(monkeypatch):
    monkeypatch.delenv("DLSA_DTYPE", raising=False)
    assert dev.default_dtype() is torch.float32
    monkeypatch.setenv("DLSA_DTYPE", "float64")
    assert dev.default_dtype() is torch.float64
    monkeypatch.setenv("DLSA_DTYPE", "float7")
    with pytest.raises(ValueError):
        dev.default_dtype()


def test_configure_threads_limits_blas_pools():
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # restore whatever was there after the test
        threadpool_limits(limits=2)
        assert any(p["num_threads"] == 2 for p in threadpool_info())
        dev.configure_threads(1)
        pools = threadpool_info()
        assert pools and all(p["num_threads"] == 1 for p in pools)
