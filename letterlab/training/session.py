"""One training run from config to run folder: seed, build, train with hooks, checkpoint, save.

A run is checkpointed at its start and after every epoch (written on a thread of its own while
the next epoch trains, `checkpoint.CheckpointWriter`); killed at any moment (SIGKILL, Ctrl-C,
power loss), `train_run(..., resume=True)` continues from the last checkpoint exactly as if it had
never stopped: same weights, same metrics bytes, TensorBoard steps without gap or duplicate."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from letterlab import NUM_CLASSES
from letterlab.data.dataset import DataSplits, LetterImages
from letterlab.errors import LetterlabError, TrainingDiverged
from letterlab.files import rewind_files
from letterlab.models.build import build_model
from letterlab.models.inference import has_bf16_units
from letterlab.models.inputs import images_to_tensor
from letterlab.run_config import RunConfig
from letterlab.runs import APPEND_ONLY, CONFIG, RunLock, check_room, write_run_description
from letterlab.training.checkpoint import CheckpointWriter, checkpoint_info, load_checkpoint, save_checkpoint, save_weights
from letterlab.training.loop import Hooks, TrainingState, fit, make_optimizer
from letterlab.training.progress import progress_for
from letterlab.training.writers import MetricsFile, TensorBoardScalars, TimingFile, open_writer


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, with a message saying which checkpoint is kept and how to resume."""


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


def new_state(config: RunConfig, device: torch.device, classes: int = NUM_CLASSES) -> TrainingState:
    """Model (with `classes` outputs), optimizer and batch-order generator, all seeded from `config.train.seed`."""
    torch.manual_seed(config.train.seed)
    model = build_model(config.model, classes).to(device)
    generator = torch.Generator().manual_seed(config.train.seed)
    return TrainingState(model=model, new_optimizer=functools.partial(make_optimizer, model, config.train), batch_generator=generator)


def train_run(config: RunConfig, run_dir: Path, splits: DataSplits, device: torch.device, *,
              resume: bool = False, progress: bool | None = None, extra_hooks=(), teachers=()) -> TrainingState:
    """Train into `run_dir` (fresh, or resumed from its last checkpoint) and save the final weights.

    `extra_hooks` are factories `f(context) -> epoch_end hook`, for callers higher in the pipeline;
    `teachers` the models of `config.train.teachers`, loaded by the caller (`evaluation.trained.load_teachers`).
    `progress`: see `training.progress.progress_for`. Raises TrainingDiverged (NaN/inf loss) and
    TrainingInterrupted (Ctrl-C); both keep the last checkpoint, from which `resume=True` continues."""
    if len(teachers) != len(config.train.teachers):
        raise LetterlabError(f"{run_dir}: the config names {len(config.train.teachers)} teachers, {len(teachers)} were loaded")
    if config.train.precision == "bf16" and not has_bf16_units(device):
        warnings.warn(f"{run_dir}: this {device.type.upper()} has no bf16 units: bf16 is emulated and far slower than fp32 "
                      "(about 10x for letters-best on an AVX2 CPU); --precision fp32 is the faster choice here", RuntimeWarning, stacklevel=2)
    state = new_state(config, device, len(splits.classes))
    state.teachers = list(teachers)
    check_room(run_dir, bytes_needed(state, config.train.swa_epochs > 0))
    with RunLock(run_dir):
        if resume:
            rewind_files(run_dir, APPEND_ONLY, load_checkpoint(run_dir, state))
        elif (run_dir / CONFIG).exists():
            raise LetterlabError(f"{run_dir}: already holds a run; continue it with --resume {run_dir}")
        else:
            write_run_description(run_dir, config, splits, str(device))
            save_checkpoint(run_dir, state)  # epoch 0: a run killed in its first epoch can resume too
        writer = open_writer(run_dir, config.train.fast_paths)
        checkpoints = CheckpointWriter(run_dir, before_write=writer.flush)
        context = TrainingContext(run_dir, config, splits, device, writer)
        # The first hook waits for the last epoch's checkpoint (it records the files' sizes before
        # anything more is appended); the last one hands this epoch's to the checkpoint thread.
        hooks = Hooks(epoch_end=[lambda *_: checkpoints.wait(), MetricsFile(run_dir), TimingFile(run_dir), TensorBoardScalars(writer)])
        hooks.epoch_end += [make(context) for make in extra_hooks]
        hooks.epoch_end.append(lambda current, _: checkpoints.submit(current))
        shown = progress_for(config, len(splits.train), state.epoch, progress)
        hooks.batch_end += shown.batch_end
        hooks.epoch_end += shown.epoch_end
        try:
            fit(state, tensors(splits.train, device), tensors(splits.val, device), config.train, hooks)
            checkpoints.wait()
        except TrainingDiverged as error:
            checkpoints.wait()
            raise TrainingDiverged(f"{run_dir}: {error}") from None
        except KeyboardInterrupt:
            checkpoints.wait()
            kept = checkpoint_info(run_dir)
            raise TrainingInterrupted(f"{run_dir}: stopped; the checkpoint of epoch {kept['epoch']} (step {kept['step']}) "
                                      f"is kept; continue with: letterlab train --resume {run_dir}") from None
        finally:
            checkpoints.close()
            writer.close()
            shown.close()
        save_weights(run_dir, state.model)
    return state


def bytes_needed(state: TrainingState, averaging: bool = False) -> int:
    """Disk room for a run: old and new checkpoint side by side while switching (model plus up to two
    Adam moments each, plus the weight average when `averaging`), the final weights, and 16 MiB for
    metrics and events."""
    model_bytes = sum(t.numel() * t.element_size() for t in state.model.state_dict().values())
    return 2 * (4 if averaging else 3) * model_bytes + model_bytes + 16 * 2**20

