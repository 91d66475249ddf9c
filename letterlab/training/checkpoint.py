"""Checkpoints that carry everything to resume, saved atomically and loaded without full pickle.

`checkpoint.pt` is a plain dict of tensors and numbers, read back with `torch.load(weights_only=True)`,
which refuses any pickled object other than tensors and containers. `checkpoint.json` records its
SHA-256; a file that matches no recorded hash is refused as tampered. The record is replaced before
the new file is renamed into place and keeps the previous file's record too, so a crash between the
two renames leaves a pair that still loads (the previous checkpoint). The checkpoint also records
the sizes of the run's append-only files, which a resumed run cuts back to. Final weights go to
`model.safetensors`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel

from letterlab.errors import LetterlabError
from letterlab.files import file_sizes, write_atomic, write_json_atomic
from letterlab.runs import APPEND_ONLY, CHECKPOINT, CHECKPOINT_INFO, WEIGHTS
from letterlab.training.loop import TrainingState


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot(state: TrainingState) -> dict:
    """Everything a checkpoint holds but the run's file sizes, copied to the CPU now: training can go
    on while it is written."""
    # The weight average (`swa_epochs`) only once there is one: other runs' checkpoints stay as they were.
    averaged = {"averaged": on_cpu(state.averaged.state_dict())} if state.averaged is not None else {}
    return {
        "model": on_cpu(state.model.state_dict()),
        "optimizer": on_cpu(state.optimizer.state_dict()) if state.has_optimizer else {},  # {}: none made yet, a new one is the same
        "batch_generator": state.batch_generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],  # dropout on a GPU
        "epoch": state.epoch,
        "step": state.step,
        **averaged,
    }


def on_cpu(value):
    """`value` (tensors in dicts and lists) with every tensor copied to the CPU."""
    if torch.is_tensor(value):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value


def save_checkpoint(run_dir: Path, state: TrainingState) -> None:
    write_checkpoint(run_dir, snapshot(state))


def write_checkpoint(run_dir: Path, payload: dict) -> None:
    """Write a `snapshot` with the sizes the run's append-only files have now."""
    path = run_dir / CHECKPOINT
    payload = {**payload, "appended": file_sizes(run_dir, APPEND_ONLY)}  # {file name: bytes} at this checkpoint
    previous = checkpoint_info(run_dir) if path.exists() else None

    def record(temp: Path) -> None:
        write_json_atomic(run_dir / CHECKPOINT_INFO, {"epoch": payload["epoch"], "step": payload["step"],
                                                      "sha256": file_sha256(temp), "previous": previous})

    write_atomic(path, lambda temp: torch.save(payload, temp), before_replace=record)


class CheckpointWriter:
    """Writes each epoch's checkpoint on a thread of its own while the next epoch trains.

    `submit(state)` copies the state at once and writes it in the background, after `before_write`
    (the TensorBoard writer's flush, so that its events are in the file whose size is recorded).
    `wait()` returns when that checkpoint is on disk and raises its error if it failed; it must be
    called before anything more is appended to the run's files (the checkpoint records their sizes).
    So every epoch is still checkpointed, in order, and a kill at any moment leaves the last one
    written; the training thread no longer waits for the disk (fsyncs) or TensorBoard's encoding."""

    def __init__(self, run_dir: Path, before_write: Callable[[], None]):
        self.run_dir, self.before_write = run_dir, before_write
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self.pending: Future | None = None

    def submit(self, state: TrainingState) -> None:
        self.wait()
        self.pending = self.pool.submit(self._write, snapshot(state))

    def _write(self, payload: dict) -> None:
        self.before_write()
        write_checkpoint(self.run_dir, payload)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the checkpoint being written, if any, without raising its error."""
        self.pool.shutdown(wait=True)


def checkpoint_info(run_dir: Path) -> dict:
    """The record {epoch, step, sha256} in `checkpoint.json` that matches `checkpoint.pt` on disk
    (the latest, or the previous one after a crash between the two renames); refuses any other file."""
    path, info_path = Path(run_dir) / CHECKPOINT, Path(run_dir) / CHECKPOINT_INFO
    if not path.exists() or not info_path.exists():
        raise LetterlabError(f"{run_dir}: no checkpoint to resume from")
    try:
        latest = json.loads(info_path.read_text())
        records = [{key: record[key] for key in ("epoch", "step", "sha256")} for record in (latest, latest["previous"]) if record]
    except (ValueError, KeyError, TypeError):
        raise LetterlabError(f"{info_path}: not a letterlab checkpoint record") from None
    sha256 = file_sha256(path)
    for record in records:
        if record["sha256"] == sha256:
            return record
    raise LetterlabError(f"{path}: checkpoint does not match its recorded SHA-256; refusing a tampered file")


def load_checkpoint(run_dir: Path, state: TrainingState) -> dict[str, int]:
    """Restore `state` in place from the run's checkpoint; refuse a missing, tampered or foreign file.
    Returns the sizes the run's append-only files had at that checkpoint."""
    checkpoint_info(run_dir)
    path = Path(run_dir) / CHECKPOINT
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state.model.load_state_dict(payload["model"])
        if payload["optimizer"]:
            state.optimizer.load_state_dict(payload["optimizer"])
            match_capturable(state.optimizer)
        state.batch_generator.set_state(payload["batch_generator"])
        torch.set_rng_state(payload["torch_rng"])
        if payload.get("cuda_rng"):
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        state.epoch, state.step = int(payload["epoch"]), int(payload["step"])
        if "averaged" in payload:
            state.averaged = AveragedModel(state.model)
            state.averaged.load_state_dict(payload["averaged"])
        return dict(payload["appended"])
    except Exception as error:  # weights_only refuses any pickled callable; a foreign dict lacks keys
        raise LetterlabError(f"{path}: not a letterlab checkpoint for this model ({type(error).__name__})") from None


def match_capturable(optimizer: torch.optim.Optimizer) -> None:
    """Adam's (NAdam's, RMSprop's) `capturable` (step counts on the GPU, for CUDA graphs) as for a new optimizer on the
    parameters' device: a checkpoint from a GPU can resume on a CPU and the other way round."""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            continue
        on_gpu = group["params"][0].is_cuda
        group["capturable"] = on_gpu
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            for key in ("step", "mu_product"):  # NAdam keeps its momentum product beside the step
                if torch.is_tensor(state.get(key)):
                    state[key] = state[key].to(parameter.device if on_gpu else "cpu", torch.float32)


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
