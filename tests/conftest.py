"""Test-wide settings: offline, one torch thread, seeded, and the ``e2e``/``slow``/``gpu`` markers."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub or diffusers: never reach for a hub in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DLSA_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from dlsa_core.device import seed_everything

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def _seeded():
    seed_everything(0)
    yield
