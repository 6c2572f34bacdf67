import json
import subprocess
import sys

import pytest
import torch

from dlsa_core import weights

CARD = {
    "data": "synthetic",
    "command": "pytest",
    "steps": 3,
    "wall_time_s": 0.1,
    "hardware": "cpu",
    "metrics": {"loss": 0.5},
}


def _model():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_round_trip(tmp_path):
    model = _model()
    weights.save("tiny", model.state_dict(), {"in": 4, "out": 2}, CARD, root=tmp_path)
    loaded = weights.load("tiny", root=tmp_path)
    assert loaded.config == {"in": 4, "out": 2} and loaded.card["steps"] == 3
    other = _model()
    other.load_state_dict(loaded.tensors)
    x = torch.randn(5, 4)
    assert torch.equal(model(x), other(x))
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert set(manifest["tiny"]) == {"config.json", "model.safetensors", "card.json"}
    assert loaded.sha256 == {k: v["sha256"] for k, v in manifest["tiny"].items()}


def test_corrupted_file_is_rejected(tmp_path):
    weights.save("tiny", _model().state_dict(), {}, CARD, root=tmp_path)
    path = tmp_path / "tiny" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsError, match="corrupted"):
        weights.load("tiny", root=tmp_path)


def test_changed_config_is_rejected(tmp_path):
    weights.save("tiny", _model().state_dict(), {"a": 1}, CARD, root=tmp_path)
    (tmp_path / "tiny" / "config.json").write_text('{"a": 2}')
    with pytest.raises(weights.WeightsError, match="config.json"):
        weights.load("tiny", root=tmp_path)


def test_missing_entry_and_missing_file(tmp_path):
    with pytest.raises(weights.WeightsError, match="no shipped weights named 'nope'"):
        weights.load("nope", root=tmp_path)
    weights.save("tiny", _model().state_dict(), {}, CARD, root=tmp_path)
    (tmp_path / "tiny" / "card.json").unlink()
    with pytest.raises(weights.WeightsError, match="missing"):
        weights.load("tiny", root=tmp_path)


def test_card_must_be_complete(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        weights.save("tiny", _model().state_dict(), {}, {"data": "x"}, root=tmp_path)


def test_pickle_is_never_loaded(tmp_path, monkeypatch):
    weights.save("tiny", _model().state_dict(), {}, CARD, root=tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("torch.load (pickle) must not be used for shipped weights")

    monkeypatch.setattr(torch, "load", forbidden)
    weights.load("tiny", root=tmp_path)


def test_cli_lists_shipped_weights(tmp_path):
    weights.save("tiny", _model().state_dict(), {}, CARD, root=tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "dlsa_core.weights"],
        capture_output=True,
        text=True,
        env={"DLSA_WEIGHTS_DIR": str(tmp_path), "PATH": ""},
        check=True,
    ).stdout
    assert "tiny" in out and "[ok]" in out


def test_every_shipped_entry_verifies():
    for row in weights.list_weights():
        weights.verify(row["name"])
