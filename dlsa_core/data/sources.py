"""Where the IDX files of MNIST and Fashion-MNIST can come from, and their verified download.

Downloads are verified by the sha256 of the *decompressed* IDX payload, so a file is accepted
whatever gzip settings a mirror used (Debian, for instance, recompresses Fashion-MNIST).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "DLSA_DATA_DIR"
ENV_OFFLINE = "DLSA_OFFLINE"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class IDXFile:
    """One official IDX file: its name (without .gz) and sha256 of its decompressed bytes."""

    name: str
    sha256: str


SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_FILES = {
    f.name: f
    for f in (
        IDXFile(
            "train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        IDXFile(
            "train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        IDXFile("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        IDXFile("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    )
}
FASHION_FILES = {
    f.name: f
    for f in (
        IDXFile(
            "train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        IDXFile(
            "train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        IDXFile("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        IDXFile("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    )
}
MNIST_URLS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def offline() -> bool:
    """True when downloads must not be attempted (``HF_HUB_OFFLINE`` or ``DLSA_OFFLINE`` set)."""
    return any(
        os.environ.get(v, "").strip().lower() not in ("", "0", "false", "no")
        for v in ("HF_HUB_OFFLINE", ENV_OFFLINE)
    )


def cache_dir() -> Path:
    """Where downloaded IDX files are kept (``$XDG_CACHE_HOME/dlsa`` or ``~/.cache/dlsa``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dlsa"


def find_idx_pair(directory: str | Path, split: str) -> tuple[Path, Path] | None:
    """Find the images and labels IDX files for ``split`` in ``directory`` (plain or ``.gz``)."""
    directory = Path(directory)
    found = []
    for stem in SPLIT_FILES[split]:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            return None
    return found[0], found[1]


def _sha256_decompressed(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_verified(
    files: dict[str, IDXFile], urls: tuple[str, ...], dest: Path, *, timeout: float = 60
) -> Path:
    """Download the four ``.gz`` files into ``dest``, keeping each only if its sha256 matches.

    Raises
    ------
    RuntimeError
        If offline mode is on, or no mirror delivered a file with the right checksum.
    """
    if offline():
        raise RuntimeError("downloads are disabled (HF_HUB_OFFLINE or DLSA_OFFLINE is set)")
    dest.mkdir(parents=True, exist_ok=True)
    for spec in files.values():
        target = dest / f"{spec.name}.gz"
        if target.is_file() and _sha256_decompressed(target) == spec.sha256:
            continue
        errors = []
        for base in urls:
            with tempfile.NamedTemporaryFile(dir=dest, suffix=".part", delete=False) as tmp:
                tmp_path = Path(tmp.name)
            try:
                with (
                    urllib.request.urlopen(base + spec.name + ".gz", timeout=timeout) as r,
                    open(tmp_path, "wb") as out,
                ):
                    shutil.copyfileobj(r, out)
                got = _sha256_decompressed(tmp_path)
                if got != spec.sha256:
                    raise RuntimeError(f"sha256 mismatch ({got[:12]}… != {spec.sha256[:12]}…)")
                os.replace(tmp_path, target)
                break
            except (OSError, RuntimeError, EOFError) as exc:
                errors.append(f"{base}: {exc}")
            finally:
                tmp_path.unlink(missing_ok=True)
        else:
            raise RuntimeError(f"could not download {spec.name}: " + "; ".join(errors))
    return dest
