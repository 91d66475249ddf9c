"""How a run shows its progress. Someone watching (a terminal, or a Jupyter/Colab notebook): one
tqdm bar per run (`tqdm.auto`, a widget in a notebook), redrawn at most `REFRESHES_PER_SECOND`
times a second, which Colab needs. Nobody watching (output to a file or a pipe): one plain line
per epoch on stderr."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from letterlab.run_config import RunConfig
from letterlab.training.batches import batches_per_epoch

REFRESHES_PER_SECOND = 4


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Colab's included)."""
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    return shell is not None and hasattr(shell, "kernel")


def is_watched() -> bool:
    return sys.stderr.isatty() or in_notebook()


@dataclass
class Progress:
    """Hooks that show a run's progress (`batch_end`, `epoch_end` for the loop) and `close()`."""

    batch_end: list[Callable] = field(default_factory=list)
    epoch_end: list[Callable] = field(default_factory=list)
    close: Callable[[], None] = lambda: None


def progress_for(config: RunConfig, train_size: int, done_epochs: int, show: bool | None) -> Progress:
    """`show`: True a bar, False nothing, None a bar when someone watches and plain lines otherwise."""
    name = config.preset or "train"
    if show is False or config.train.epochs <= done_epochs:
        return Progress()
    if show is None and not is_watched():
        def line(_, r) -> None:
            val = "" if r.val_accuracy != r.val_accuracy else f", validation accuracy {r.val_accuracy:.4f}"  # NaN: no validation part
            print(f"{name}: epoch {r.epoch}/{config.train.epochs}, loss {r.train_loss:.4f}{val}, {r.seconds:.2f} s",
                  file=sys.stderr, flush=True)

        return Progress(epoch_end=[line])
    if in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm  # the notebook widget
    else:
        from tqdm import tqdm  # text; in a notebook without ipywidgets it redraws one line in place

    t = config.train
    per_epoch = batches_per_epoch(train_size, t.batch_size, t.batch_order)
    bar = tqdm(total=per_epoch * (t.epochs - done_epochs), desc=name, unit="batch", leave=False,
               mininterval=1 / REFRESHES_PER_SECOND)

    def postfix(_, r) -> None:
        bar.set_postfix(loss=f"{r.train_loss:.3f}", val_acc=f"{r.val_accuracy:.3f}", refresh=False)

    return Progress(batch_end=[lambda _: bar.update()], epoch_end=[postfix], close=bar.close)
