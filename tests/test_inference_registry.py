"""Registry: lookup by name, folder and env; refusal of models whose file or graph disagrees with the card."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge.inference.card import CARD_FILE, MODEL_FILE, load_card, sha256_file, write_card
from edge.inference.core import Detector
from edge.inference.registry import (
    MODELS_DIR_ENV,
    ModelContractError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    ModelRegistry,
)
from edge.inference.synthetic import identity_map_graph, write_model


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    write_model(root / "grey", identity_map_graph(1, (32, 32)), "grey_model")
    write_model(root / "colour", identity_map_graph(3, (32, 32)), "colour_model")
    (root / "not_a_model").mkdir()
    return root


def test_lists_models_with_cards(models_root: Path) -> None:
    names = [card.name for card in ModelRegistry(models_root).list()]
    assert names == ["colour_model", "grey_model"]


def test_loads_by_card_name_folder_name_and_path(models_root: Path) -> None:
    registry = ModelRegistry(models_root)
    assert registry.resolve("grey_model") == models_root / "grey"
    assert registry.resolve("colour") == models_root / "colour"
    assert registry.resolve(str(models_root / "grey")) == models_root / "grey"
    assert registry.load("grey_model").card.name == "grey_model"


def test_models_dir_from_env(models_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(models_root))
    assert ModelRegistry().models_dir == models_root
    assert Detector.load("grey_model").card.name == "grey_model"


def test_unknown_model_is_not_found(models_root: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model 'nope'"):
        ModelRegistry(models_root).load("nope")


def test_one_flipped_byte_is_refused_with_hash_mismatch(models_root: Path) -> None:
    path = models_root / "grey" / MODEL_FILE
    expected = load_card(models_root / "grey").sha256
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    actual = sha256_file(path)
    with pytest.raises(ModelIntegrityError) as caught:
        Detector.load("grey_model", models_dir=models_root)
    message = str(caught.value)
    assert "SHA-256 mismatch" in message
    assert expected in message and actual in message and str(path) in message


def _edit_card(folder: Path, **changes: object) -> None:
    raw = json.loads((folder / CARD_FILE).read_text())
    for dotted, value in changes.items():
        target = raw
        *parents, key = dotted.split("__")
        for parent in parents:
            target = target[parent]
        target[key] = value
    (folder / CARD_FILE).write_text(json.dumps(raw))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"input__name": "pixels"}, "card input name 'pixels'"),
        ({"input__channels": 3}, "card input \\[N,3,32,32\\]"),
        ({"input__height": 64}, "card input \\[N,1,64,32\\]"),
        ({"outputs": [{"name": "score", "shape": "[N]", "meaning": "x"},
                      {"name": "heat", "shape": "[N,1,h,w]", "meaning": "x"}]}, "does not have"),
        ({"outputs": [{"name": "score", "shape": "[N]", "meaning": "x"}]}, "needs output 'anomaly_map'"),
    ],
)
def test_card_graph_mismatch_is_refused(models_root: Path, changes: dict[str, object], expected: str) -> None:
    _edit_card(models_root / "grey", **changes)
    with pytest.raises(ModelContractError, match=expected):
        Detector.load(models_root / "grey")


def test_rewritten_card_with_new_hash_loads_again(models_root: Path) -> None:
    folder = models_root / "grey"
    card = load_card(folder)
    write_card(folder, card.model_copy(update={"version": "0.0.2"}))
    assert Detector.load(folder).card.version == "0.0.2"


def _broken_card_folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / CARD_FILE).write_text("{not json", encoding="utf-8")
    (folder / MODEL_FILE).write_bytes(b"onnx")
    return folder


def test_list_skips_card_without_model_and_unreadable_cards_and_goes_on(models_root: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    card_only = models_root / "a_card_only"
    card_only.mkdir()
    (card_only / CARD_FILE).write_text((models_root / "grey" / CARD_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    broken = _broken_card_folder(models_root, "b_broken")
    with caplog.at_level(logging.WARNING, logger="edge.inference.registry"):
        names = [card.name for card in ModelRegistry(models_root).list()]
    assert names == ["colour_model", "grey_model"]
    (record,) = [r for r in caplog.records if r.name == "edge.inference.registry"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(f"skipping {broken}: unreadable card: ")
    assert "Invalid JSON" in record.getMessage()


def test_list_and_resolve_in_a_missing_models_dir(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "nowhere")
    assert registry.list() == []
    with pytest.raises(ModelNotFoundError, match=f"no model 'grey_model': not a folder with {CARD_FILE}"):
        registry.resolve("grey_model")


def test_resolve_by_name_passes_over_an_unreadable_card(models_root: Path) -> None:
    _broken_card_folder(models_root, "a_broken")
    assert ModelRegistry(models_root).resolve("grey_model") == models_root / "grey"


def test_load_returns_folder_card_and_bytes_and_logs_the_verified_hash(models_root: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    folder = models_root / "grey"
    with caplog.at_level(logging.INFO, logger="edge.inference.registry"):
        files = ModelRegistry(models_root).load("grey_model")
    assert files.folder == folder and files.card == load_card(folder)
    assert files.onnx_bytes == (folder / MODEL_FILE).read_bytes()
    messages = [r.getMessage() for r in caplog.records if r.name == "edge.inference.registry"]
    assert messages == [f"model grey_model 0.0.1 from {folder}: SHA-256 verified"]


def test_invalid_card_and_missing_onnx_are_refused_by_file(models_root: Path) -> None:
    folder = models_root / "grey"
    _edit_card(folder, input__channels="many")
    with pytest.raises(ModelError) as caught:
        ModelRegistry(models_root).load(folder)
    assert type(caught.value) is ModelError
    assert str(caught.value).startswith(f"refusing model {folder / CARD_FILE}: invalid card: ")
    assert "input.channels" in str(caught.value)
    colour = models_root / "colour"
    (colour / MODEL_FILE).unlink()
    with pytest.raises(ModelNotFoundError) as missing:
        ModelRegistry(models_root).load(colour)
    assert str(missing.value) == f"model folder {colour} has a card but no {MODEL_FILE}"


def test_integrity_error_keeps_path_and_both_hashes(models_root: Path) -> None:
    path = models_root / "grey" / MODEL_FILE
    expected = load_card(models_root / "grey").sha256
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ModelIntegrityError) as caught:
        ModelRegistry(models_root).load("grey")
    assert caught.value.path == path and caught.value.expected == expected
    assert caught.value.actual == sha256_file(path) != expected
