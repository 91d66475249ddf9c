"""Checkpoints that carry everything to resume, saved atomically and loaded without full pickle.

`checkpoint.pt` is a plain dict of tensors and numbers, read back with `torch.load(weights_only=True)`,
which refuses any pickled object other than tensors and containers. Its SHA-256 is kept beside it in
`checkpoint.json`; a file that does not match is refused as tampered. Final weights also go to
`model.safetensors`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from letterlab.errors import LetterlabError
from letterlab.training.files import write_atomic, write_json_atomic
from letterlab.training.loop import TrainingState

CHECKPOINT, CHECKPOINT_INFO, WEIGHTS = "checkpoint.pt", "checkpoint.json", "model.safetensors"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(run_dir: Path, state: TrainingState) -> None:
    payload = {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "batch_generator": state.batch_generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epoch": state.epoch,
        "step": state.step,
    }
    write_atomic(run_dir / CHECKPOINT, lambda temp: torch.save(payload, temp))
    write_json_atomic(run_dir / CHECKPOINT_INFO, {"epoch": state.epoch, "step": state.step, "sha256": file_sha256(run_dir / CHECKPOINT)})


def load_checkpoint(run_dir: Path, state: TrainingState) -> TrainingState:
    """Restore `state` in place from the run's checkpoint; refuse a missing, tampered or foreign file."""
    path, info_path = run_dir / CHECKPOINT, run_dir / CHECKPOINT_INFO
    if not path.exists() or not info_path.exists():
        raise LetterlabError(f"{run_dir}: no checkpoint to resume from")
    expected = json.loads(info_path.read_text())["sha256"]
    if file_sha256(path) != expected:
        raise LetterlabError(f"{path}: checkpoint does not match its recorded SHA-256; refusing a tampered file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses any pickled callable
        raise LetterlabError(f"{path}: not a letterlab checkpoint ({type(error).__name__})") from None
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.batch_generator.set_state(payload["batch_generator"])
    torch.set_rng_state(payload["torch_rng"])
    state.epoch, state.step = int(payload["epoch"]), int(payload["step"])
    return state


def save_weights(run_dir: Path, model: torch.nn.Module) -> None:
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    write_atomic(run_dir / WEIGHTS, lambda temp: save_file(tensors, str(temp)))


def load_weights(run_dir: Path, model: torch.nn.Module) -> torch.nn.Module:
    path = Path(run_dir) / WEIGHTS
    if not path.exists():
        raise LetterlabError(f"{run_dir}: no {WEIGHTS}; is this a finished letterlab run?")
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as error:
        raise LetterlabError(f"{path}: cannot load weights ({error})") from None
    return model
