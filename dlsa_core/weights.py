"""Registry of the weights the project trains and ships, under ``assets/weights/<name>/``.

Each entry is a folder with ``config.json`` (how to build the model), ``model.safetensors`` (the
tensors) and ``card.json`` (model card: data, command, steps, wall time, hardware, metrics).
``assets/weights/MANIFEST.json`` records the sha256 and size of every file; :func:`load` refuses
any file whose hash differs. Nothing is ever unpickled.

Run ``python -m dlsa_core.weights`` to list what is shipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_WEIGHTS_DIR = "DLSA_WEIGHTS_DIR"
MANIFEST = "MANIFEST.json"
FILES = ("config.json", "model.safetensors", "card.json")
CARD_FIELDS = ("data", "command", "steps", "wall_time_s", "hardware", "metrics")


class WeightsError(RuntimeError):
    """Shipped weights are missing, unlisted, or do not match their recorded sha256."""


@dataclass
class LoadedWeights:
    """Verified contents of one registry entry."""

    name: str
    config: dict[str, Any]
    card: dict[str, Any]
    tensors: dict[str, Any]  # name -> torch.Tensor
    path: Path
    sha256: dict[str, str] = field(default_factory=dict)


def weights_dir(root: str | Path | None = None) -> Path:
    """The registry root: ``root``, else ``$DLSA_WEIGHTS_DIR``, else ``<repo>/assets/weights``."""
    if root is not None:
        return Path(root)
    if os.environ.get(ENV_WEIGHTS_DIR):
        return Path(os.environ[ENV_WEIGHTS_DIR])
    return Path(__file__).resolve().parents[1] / "assets" / "weights"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: str | Path | None = None) -> dict[str, Any]:
    path = weights_dir(root) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} is not valid JSON: {exc}") from exc


def _write_manifest(manifest: dict[str, Any], root: Path) -> None:
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    os.replace(tmp, root / MANIFEST)


def _portable_token(token: str, root: Path) -> str:
    if not token.startswith("/") or len(token) < 2:
        return token
    path = Path(token)
    try:
        return str(path.resolve().relative_to(root.resolve()))  # inside the repository: relative
    except ValueError:
        pass
    if "/dlsa_core/" in token:  # a module of this package run by path on another checkout
        return token[token.index("/dlsa_core/") + 1 :]
    return f"<outside-repo>/{path.name}"  # e.g. a scratch output folder of the training machine


def portable(value: Any, root: str | Path | None = None) -> Any:
    """Rewrite absolute paths in a card (strings, lists, dicts, recursively) relative to the repository.

    ``/any/checkout/dlsa_core/diffusion/train.py`` -> ``dlsa_core/diffusion/train.py``; a path inside
    ``root`` (default: the repository) -> relative; other absolute paths -> ``<outside-repo>/<name>``.
    Cards must not record the training machine's directories.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    if isinstance(value, str):
        return " ".join(_portable_token(t, root) for t in value.split(" "))
    if isinstance(value, list):
        return [portable(v, root) for v in value]
    if isinstance(value, dict):
        return {k: portable(v, root) for k, v in value.items()}
    return value


def save(
    name: str,
    tensors: dict[str, Any],
    config: dict[str, Any],
    card: dict[str, Any],
    *,
    root: str | Path | None = None,
) -> Path:
    """Write an entry (config, safetensors, card) and record its sha256 sums in the manifest.

    Parameters
    ----------
    name : str
        Folder name, e.g. ``"ddpm-mnist"``.
    tensors : dict of str -> torch.Tensor
        The state dict (contiguous tensors; shared storage is cloned).
    config : dict
        JSON-serialisable description needed to rebuild the model.
    card : dict
        Model card; must contain ``data, command, steps, wall_time_s, hardware, metrics``.
    """
    import torch
    from safetensors.torch import save_file

    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad weights name {name!r}")
    missing = [f for f in CARD_FIELDS if f not in card]
    if missing:
        raise ValueError(f"model card for {name!r} lacks {missing}")
    root = weights_dir(root)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    clean = {
        k: v.detach().to("cpu").contiguous().clone()
        for k, v in tensors.items()
        if isinstance(v, torch.Tensor)
    }
    save_file(clean, str(folder / "model.safetensors"), metadata={"name": name})
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (folder / "card.json").write_text(json.dumps(portable(card), indent=2, default=str) + "\n")
    manifest = read_manifest(root)
    manifest[name] = {
        f: {"sha256": sha256_file(folder / f), "bytes": (folder / f).stat().st_size} for f in FILES
    }
    _write_manifest(manifest, root)
    return folder


def verify(name: str, *, root: str | Path | None = None) -> dict[str, str]:
    """Check every file of ``name`` against the manifest; return ``{file: sha256}``.

    Raises
    ------
    WeightsError
        If the entry is not in the manifest, a file is missing, or a hash differs.
    """
    root = weights_dir(root)
    manifest = read_manifest(root)
    if name not in manifest:
        shipped = ", ".join(sorted(manifest)) or "none"
        raise WeightsError(f"no shipped weights named {name!r} in {root} (shipped: {shipped}).")
    hashes = {}
    for fname, meta in manifest[name].items():
        path = root / name / fname
        if not path.is_file():
            raise WeightsError(
                f"{path} is missing; the checkout is incomplete (re-clone, or retrain {name!r})."
            )
        got = sha256_file(path)
        if got != meta["sha256"]:
            raise WeightsError(
                f"{path} is corrupted or was changed: sha256 {got[:16]}… does not match the manifest's "
                f"{meta['sha256'][:16]}…. Restore it from git (git checkout -- {path}) or retrain {name!r}."
            )
        hashes[fname] = got
    return hashes


def load(name: str, *, root: str | Path | None = None, device=None) -> LoadedWeights:
    """Verify and load an entry. Tensors are placed on ``device`` (resolved by ``dlsa_core.device``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .device import get_device

    hashes = verify(name, root=root)
    folder = weights_dir(root) / name
    try:
        tensors = load_file(str(folder / "model.safetensors"), device=str(get_device(device)))
    except (SafetensorError, OSError) as exc:  # hash matched but content unreadable: a bad commit
        raise WeightsError(f"{folder / 'model.safetensors'} cannot be read: {exc}") from exc
    config = json.loads((folder / "config.json").read_text())
    card = json.loads((folder / "card.json").read_text())
    return LoadedWeights(name=name, config=config, card=card, tensors=tensors, path=folder, sha256=hashes)


def list_weights(*, root: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per manifest entry: name, total bytes, short sha256, and headline card fields."""
    root = weights_dir(root)
    rows = []
    for name, files in sorted(read_manifest(root).items()):
        card_path = root / name / "card.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        rows.append(
            {
                "name": name,
                "bytes": sum(m["bytes"] for m in files.values()),
                "sha256": files.get("model.safetensors", {}).get("sha256", "")[:12],
                "steps": card.get("steps"),
                "hardware": card.get("hardware"),
                "data": card.get("data"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    rows = list_weights()
    if not rows:
        print(f"No weights shipped in {weights_dir()}.")
        return 0
    print(f"Shipped weights in {weights_dir()}:")
    for r in rows:
        try:
            verify(r["name"])
            status = "ok"
        except WeightsError as exc:
            status = f"BAD: {exc}"
        print(
            f"  {r['name']:<20} {r['bytes'] / 1e6:7.2f} MB  sha256 {r['sha256']}  steps={r['steps']}  "
            f"hardware={r['hardware']}  [{status}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
