"""Model cards and shipped experiment records name commands relative to the repository, never the
training machine's absolute paths (issue 8, "everywhere in the app")."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlsa_core import weights

ROOT = Path(__file__).resolve().parents[2]
ABSOLUTE = re.compile(r"(^|[\s='\"])/(?!/)[A-Za-z0-9_.~-]+/")  # "/work/...", "--out=/tmp/x"; not "1/B"


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)


def test_no_shipped_card_holds_an_absolute_path():
    cards = sorted((ROOT / "assets").rglob("card.json")) + sorted(
        (ROOT / "assets" / "stability").glob("*.json")
    )
    assert cards, "no shipped cards found"
    for path in cards:
        for text in strings(json.loads(path.read_text())):
            assert not ABSOLUTE.search(text), f"{path.relative_to(ROOT)}: absolute path in {text!r}"


def test_portable_rewrites_paths(tmp_path):
    card = {
        "command": ["/home/x/dlsa/dlsa_core/diffusion/train.py --out /tmp/ckpt --lr 1e-3"],
        "nested": {"argv": f"{tmp_path}/runs/a.json 1/B"},
        "steps": 3,
    }
    out = weights.portable(card, root=tmp_path)
    assert out["command"] == ["dlsa_core/diffusion/train.py --out <outside-repo>/ckpt --lr 1e-3"]
    assert out["nested"]["argv"] == "runs/a.json 1/B" and out["steps"] == 3
    for text in strings(out):
        assert not ABSOLUTE.search(text)


def test_save_writes_portable_cards(tmp_path):
    import torch

    card = {"data": "x", "command": "/abs/dlsa_core/m.py --out /scratch/o", "steps": 1, "wall_time_s": 0,
            "hardware": "cpu", "metrics": {}}  # fmt: skip
    weights.save("tiny", {"w": torch.zeros(2)}, {}, card, root=tmp_path)
    written = json.loads((tmp_path / "tiny" / "card.json").read_text())
    assert written["command"] == "dlsa_core/m.py --out <outside-repo>/o"
    weights.verify("tiny", root=tmp_path)
