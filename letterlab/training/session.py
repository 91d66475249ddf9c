"""One training run from config to run folder: seed, build, train with hooks, checkpoint, save."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from letterlab.config import RunConfig
from letterlab.data.dataset import DataSplits, LetterImages
from letterlab.models.build import build_model
from letterlab.models.inputs import images_to_tensor
from letterlab.training.checkpoint import load_checkpoint, save_checkpoint, save_weights
from letterlab.training.loop import Hooks, TrainingState, fit, make_optimizer
from letterlab.training.run_folder import RunLock, write_run_description
from letterlab.training.writers import METRICS, TIMING, Checkpointer, MetricsFile, TensorBoardScalars, TimingFile, truncate_jsonl


@dataclass
class TrainingContext:
    """What epoch-end hooks added from outside (probes, confusion images) may need."""

    run_dir: Path
    config: RunConfig
    splits: DataSplits
    device: torch.device
    writer: SummaryWriter


def tensors(part: LetterImages, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return images_to_tensor(part.images, device), torch.from_numpy(part.labels).to(device)


def new_state(config: RunConfig, device: torch.device) -> TrainingState:
    """Model, optimizer and batch-order generator, all seeded from `config.train.seed`."""
    torch.manual_seed(config.train.seed)
    model = build_model(config.model).to(device)
    if device.type == "cpu" and config.model.kind == "cnn":
        model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(config.train.seed)
    return TrainingState(model=model, optimizer=make_optimizer(model, config.train), batch_generator=generator)


def train_run(config: RunConfig, run_dir: Path, splits: DataSplits, device: torch.device, *,
              resume: bool = False, progress: bool | None = None, extra_hooks=()) -> TrainingState:
    """Train into `run_dir` (fresh, or resumed from its last checkpoint) and save the final weights.

    `extra_hooks` are factories `f(context) -> epoch_end hook`, for callers higher in the pipeline."""
    with RunLock(run_dir):
        state = new_state(config, device)
        if resume:
            load_checkpoint(run_dir, state)
            for name in (METRICS, TIMING):
                truncate_jsonl(run_dir / name, state.epoch)
        else:
            write_run_description(run_dir, config, splits, str(device))
            save_checkpoint(run_dir, state)  # epoch 0: a run killed in its first epoch can resume too
        # purge_step drops events a killed run wrote past the checkpoint, so curves have no duplicates.
        writer = SummaryWriter(log_dir=str(run_dir), purge_step=state.step + 1 if resume else None)
        context = TrainingContext(run_dir, config, splits, device, writer)
        hooks = Hooks(epoch_end=[MetricsFile(run_dir), TimingFile(run_dir), TensorBoardScalars(writer)])
        hooks.epoch_end += [make(context) for make in extra_hooks]
        hooks.epoch_end.append(Checkpointer(run_dir))
        bar = _progress_bar(config, len(splits.train), state.epoch, progress)
        if bar is not None:
            hooks.batch_end.append(lambda _: bar.update())
            hooks.epoch_end.append(lambda s, r: bar.set_postfix(loss=f"{r.train_loss:.3f}", val_acc=f"{r.val_accuracy:.3f}"))
        try:
            fit(state, tensors(splits.train, device), tensors(splits.val, device), config.train, hooks)
        finally:
            writer.close()
            if bar is not None:
                bar.close()
        save_weights(run_dir, state.model)
    return state


def _progress_bar(config: RunConfig, train_size: int, done_epochs: int, progress: bool | None):
    """A tqdm bar over all remaining batches; off when stderr is not a terminal."""
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    t = config.train
    per_epoch = train_size // t.batch_size + 1 if t.batch_order == "random" else -(-train_size // t.batch_size)
    return tqdm(total=per_epoch * (t.epochs - done_epochs), desc=config.preset or "train", unit="batch", leave=False)
