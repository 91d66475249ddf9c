"""Training speed of letterlab against a minimal reference loop, in one run.

For each preset: letterlab's own training path (train_run, with its metrics, TensorBoard and
checkpoint hooks) and a minimal hand-written loop (same model, same batch size, data as one tensor,
one randperm per epoch), both for a few epochs on the same data. Prints training images per second
(best epoch), their ratio, achieved GFLOP/s from the model's analytic FLOPs, and that as a
fraction of this machine's peak measured in the same run (float32 matmul through MKL and oneDNN,
and the preset's own convolution shapes through oneDNN).

    python bench/bench_training.py [--presets cnn,mlp-tanh-50] [--epochs 3] [--data PATH]

`--whole-process` times what a user sees instead: the `letterlab train` command as a process, at 1
and at 21 epochs (the difference divided by 20 is an epoch with everything around it), against the
fastest hand-written loop measured in the same run (the fastest of the minimal loop above and, for
the MLPs, `lean_epoch.py`'s written-out SGD on torch's and on numpy's arrays; its median epoch). It
also prints the seconds to the first batch, the share of an epoch spent outside training
(bookkeeping), and a 1-epoch `mlp-tanh-50` process against `lean_epoch.py` as a process (import
torch, load train.data, train).
The CNNs take minutes an epoch on a 2-core CPU, so they run on a random subset of the training
images (`--cnn-images`, of which letterlab trains on 64%) at 1 and 3 epochs.

    python bench/bench_training.py --whole-process [--presets ...] [--rounds 2] [--cnn-images 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from letterlab.cli.main import MALLOC_SETTINGS, process_settings
from letterlab.data.dataset import LetterImages
from letterlab.data.npz import save_npz
from letterlab.data.registry import load_data
from letterlab.data.split import make_splits
from letterlab.models.build import build_model
from letterlab.models.describe import training_flops_per_image
from letterlab.models.inputs import images_to_tensor
from letterlab.models.presets import HOMEWORK_PRESETS, get_preset
from letterlab.pipeline import epoch_hooks
from letterlab.runs import TIMING, read_jsonl
from letterlab.training.session import train_run

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist" / "course"
LEAN = Path(__file__).resolve().parent / "lean_epoch.py"
# Runs `letterlab` in this process and prints the seconds from `BENCH_T0` (set just before the
# process started) to the first call of `epoch_order`, made right before the first batch.
FIRST_BATCH_PROBE = """
import os, sys, time
import letterlab.training.batches as batches
real, seen = batches.epoch_order, []
def first(*args, **kwargs):
    if not seen:
        seen.append(print(f"first batch {time.time() - float(os.environ['BENCH_T0']):.3f}", file=sys.stderr, flush=True))
    return real(*args, **kwargs)
batches.epoch_order = first
from letterlab.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def best_seconds(work, repeats: int = 5) -> float:
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_peak() -> dict[str, float]:
    """GFLOP/s of a float32 1024^3 matmul via torch.mm (MKL) and via a 1x1 convolution (oneDNN)."""
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    mkl = 2 * n**3 / best_seconds(lambda: torch.mm(a, b)) / 1e9
    x, w = a.view(n, n, 1, 1), b.t().contiguous().view(n, n, 1, 1)
    onednn = 2 * n**3 / best_seconds(lambda: F.conv2d(x, w)) / 1e9
    return {"mkl": mkl, "onednn": onednn}


def conv_peak(model: nn.Module, batch: int) -> float | None:
    """GFLOP/s of forward + both backward passes of the model's own conv layers, alone, channels_last."""
    flops = seconds = 0.0
    x = torch.zeros(batch, 1, 28, 28)
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding).to(memory_format=torch.channels_last)
            inputs = torch.randn(x.shape).to(memory_format=torch.channels_last).requires_grad_()

            def step(conv=conv, inputs=inputs):
                conv(inputs).sum().backward()

            out = conv(inputs)
            flops += 3 * 2 * layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1] * out[0].numel() * batch
            seconds += best_seconds(step, 3)
        with torch.no_grad():
            x = layer.eval()(x)
    return flops / seconds / 1e9 if seconds else None


def reference_loop(preset: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> list[float]:
    """The minimal loop: per-epoch seconds."""
    config = get_preset(preset)
    torch.manual_seed(0)
    model = build_model(config.model)
    if config.model.kind == "cnn":
        model = model.to(memory_format=torch.channels_last)
    t = config.train
    optimizer = torch.optim.Adam(model.parameters(), t.lr) if t.optimizer == "adam" else torch.optim.SGD(model.parameters(), t.lr)
    model.train()
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for index in torch.randperm(len(y)).split(t.batch_size):
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times


def idiomatic_loop(preset: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> list[float]:
    """The textbook loop: TensorDataset + DataLoader(shuffle=True). Per-epoch seconds."""
    from torch.utils.data import DataLoader, TensorDataset

    config = get_preset(preset)
    torch.manual_seed(0)
    model = build_model(config.model)
    optimizer = torch.optim.SGD(model.parameters(), config.train.lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=config.train.batch_size, shuffle=True)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for inputs, targets in loader:
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times


def sklearn_epochs(preset: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> list[float]:
    """scikit-learn's MLPClassifier with the same layers, SGD and batch size, one partial_fit an epoch."""
    from sklearn.neural_network import MLPClassifier

    config = get_preset(preset)
    classifier = MLPClassifier(hidden_layer_sizes=tuple(config.model.hidden), activation=config.model.activation.replace("sigmoid", "logistic"),
                               solver="sgd", learning_rate_init=config.train.lr, momentum=0.0, batch_size=config.train.batch_size)
    features, labels = x.reshape(len(x), -1).numpy(), y.numpy()
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        classifier.partial_fit(features, labels, classes=list(range(10)))
        times.append(time.perf_counter() - started)
    return times


def letterlab_epochs(preset: str, splits, epochs: int, **overrides) -> tuple[list[float], float]:
    """Seconds of each epoch's training loop, and the wall seconds of the whole run per epoch: with
    everything letterlab does around the loop (validation, TensorBoard with a confusion image every
    epoch, metrics files, checkpoints, final weights)."""
    config = get_preset(preset, epochs=epochs, **overrides)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        train_run(config, Path(folder), splits, torch.device("cpu"), progress=False, extra_hooks=epoch_hooks(config))
        wall = (time.perf_counter() - started) / epochs
        return [row["seconds"] for row in read_jsonl(Path(folder) / TIMING)], wall


def letterlab_command() -> list[str]:
    """The `letterlab` console script beside this Python, as a user runs it (with its re-exec)."""
    script = Path(sys.executable).with_name("letterlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "letterlab"]


def process_seconds(command: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall seconds of a whole process, and its stderr. It runs in the temporary folder: `python -m`
    and `-c` put the current folder first on sys.path, which in a checkout would pick that
    checkout's letterlab over the one installed beside this Python."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, done.stderr


def train_process(preset: str, data: str, epochs: int) -> tuple[float, list[float]]:
    """Wall seconds of `letterlab train` for `epochs`, and its epochs' training seconds (timing.jsonl)."""
    as_a_user = {name: value for name, value in os.environ.items() if name not in MALLOC_SETTINGS}  # so it re-execs as it does for a user
    with tempfile.TemporaryDirectory() as folder:
        seconds, _ = process_seconds(letterlab_command() + ["train", "--preset", preset, "--epochs", str(epochs), "--data", data,
                                                            "--out", f"{folder}/run", "--no-progress"], as_a_user)
        return seconds, [row["seconds"] for row in read_jsonl(Path(folder) / "run" / TIMING)]


def first_batch_seconds(preset: str, data: str | None) -> float:
    """Seconds from the command to its first batch (in one process: without the console script's re-exec)."""
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ)
        command = [sys.executable, "-c", FIRST_BATCH_PROBE, "train", "--preset", preset, "--epochs", "1",
                   "--out", f"{folder}/run", "--no-progress"] + (["--data", data] if data else [])
        env["BENCH_T0"] = str(time.time())
        _, stderr = process_seconds(command, env)
        return float(next(line for line in stderr.splitlines() if line.startswith("first batch")).split()[-1])


def lean_epochs(data: str, epochs: int, config, engine: str = "torch") -> list[float]:
    """Per-epoch seconds of `lean_epoch.py`'s written-out SGD loop for the preset's MLP, on `engine`'s arrays."""
    m, t = config.model, config.train
    done = subprocess.run([sys.executable, str(LEAN), data, "--epochs", str(epochs), "--hidden", ",".join(map(str, m.hidden)),
                           "--activation", m.activation, "--batch-size", str(t.batch_size), "--lr", str(t.lr), "--engine", engine],
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(done.stdout)["epoch_seconds"]


def subset_npz(data, images: int, folder: str) -> str:
    """A random `images` of the course's training images as an .npz (letterlab holds a fifth of them out as its test part)."""
    keep = np.random.default_rng(0).choice(len(data.train), size=min(images, len(data.train)), replace=False)
    path = Path(folder) / "subset.npz"
    save_npz(path, LetterImages(data.train.images[keep], data.train.labels[keep], "subset"))
    return str(path)


def whole_process(args) -> None:
    """The `--whole-process` mode (module docstring). This process, and so every process it starts,
    runs with the settings the `letterlab` command gives itself (glibc's, and passive OpenMP waiting
    on a busy machine), so that the hand-written loops and letterlab stand on equal footing."""
    if not all(name in os.environ for name in MALLOC_SETTINGS):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**process_settings(["train"]), **os.environ})
    data = str(Path(args.data).resolve()) if args.data else None
    if data is None or not (Path(data) / "train.data").exists():
        raise SystemExit("--whole-process needs the course data (--data FOLDER with train.data)")
    print(f"data: {data}; torch {torch.__version__}, {torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f} at start; "
          f"OpenMP waiting {os.environ.get('OMP_WAIT_POLICY', 'active (default)').lower()}")
    with tempfile.TemporaryDirectory() as folder:
        subset = subset_npz(load_data(data), args.cnn_images, folder)
        startup = {"embedded default": min(first_batch_seconds("mlp-tanh-50", None) for _ in range(args.rounds)),
                   "course data": min(first_batch_seconds("mlp-tanh-50", data) for _ in range(args.rounds))}
        print("seconds from the command to its first batch (mlp-tanh-50, best of rounds): "
              + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in startup.items()))
        lean = min(process_seconds([sys.executable, str(LEAN), data])[0] for _ in range(args.rounds))
        one = min(train_process("mlp-tanh-50", data, 1)[0] for _ in range(args.rounds))
        print(f"1-epoch mlp-tanh-50 process {one:.2f} s, lean script {lean:.2f} s: {one / lean:.2f}x (target <= 1.5x)")
        print(f"{'preset':<16}{'data':>8}{'epochs':>8}{'letterlab img/s':>17}{'hand-written img/s':>20}{'ratio':>7}"
              f"{'train s/epoch':>15}{'outside':>9}")
        for preset in args.presets.split(","):
            config = get_preset(preset)
            cnn = config.model.kind != "mlp"
            source, (low, high) = (subset, (1, 3)) if cnn else (data, (1, 21))
            part = make_splits(load_data(source), seed=0).train
            x, y = images_to_tensor(part.images), torch.from_numpy(part.labels)
            seen = (len(y) // config.train.batch_size + 1) * config.train.batch_size if config.train.batch_order == "random" else len(y)
            walls, reference, training = {low: [], high: []}, [], []
            for _ in range(args.rounds):  # alternate, so that machine noise hits all alike
                for epochs in (low, high):
                    seconds, epoch_seconds = train_process(preset, source, epochs)
                    walls[epochs].append(seconds)
                    training += epoch_seconds[1:] if epochs == high else []
                reference.append(len(y) / statistics.median(reference_loop(preset, x, y, 2 if cnn else 5)))
                if not cnn:
                    reference += [len(y) / statistics.median(lean_epochs(data, 5, config, engine)) for engine in ("torch", "numpy")]
            per_epoch = (min(walls[high]) - min(walls[low])) / (high - low)
            train_epoch = statistics.median(training)
            ours, best = seen / per_epoch, max(reference)
            print(f"{preset:<16}{'subset' if cnn else 'course':>8}{f'{low},{high}':>8}{ours:>17,.0f}{best:>20,.0f}{ours / best:>7.2f}"
                  f"{train_epoch:>15.3f}{(per_epoch - train_epoch) / train_epoch:>9.0%}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end; 'outside': an epoch's wall time beyond its training loop, "
          "as a share of the loop (validation, records, TensorBoard, checkpoint)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(HOMEWORK_PRESETS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements of each loop; the best epoch counts")
    parser.add_argument("--data", default=str(REAL_DATA) if REAL_DATA.exists() else None)
    parser.add_argument("--whole-process", action="store_true", help="time the `letterlab train` command as a process (docstring)")
    parser.add_argument("--cnn-images", type=int, default=1500, help="--whole-process: training images for the CNNs")
    args = parser.parse_args()
    if args.whole_process:
        return whole_process(args)

    splits = make_splits(load_data(args.data), seed=0)
    x, y = images_to_tensor(splits.train.images), torch.from_numpy(splits.train.labels)
    print(f"data: {splits.train.source}, {len(y)} training images; torch {torch.__version__}, {torch.get_num_threads()} threads")
    peaks = matmul_peak()
    print(f"peak float32 matmul: MKL {peaks['mkl']:.0f} GFLOP/s, oneDNN {peaks['onednn']:.0f} GFLOP/s")
    matmul = max(peaks.values())
    try:
        import sklearn  # noqa: F401  (optional comparison)
    except ImportError:
        sklearn = None
    print("training images/s, best epoch; 'with hooks': letterlab's whole run (validation, TensorBoard, checkpoints) per epoch")
    print(f"{'preset':<16}{'letterlab':>11}{'reference':>11}{'ratio':>7}{'GFLOP/s':>9}{'peak':>6}{'of peak':>9}"
          f"{'with hooks':>12}{'shuffle':>9}{'idiomatic':>11}{'x':>6}{'sklearn':>9}{'x':>6}")
    for preset in args.presets.split(","):
        config = get_preset(preset)
        model = build_model(config.model)
        mlp = config.model.kind == "mlp"
        # The random batch order trains len//batch + 1 batches an epoch: count the images it saw.
        seen = (len(y) // config.train.batch_size + 1) * config.train.batch_size if config.train.batch_order == "random" else len(y)
        rates = {"ours": [], "wall": [], "reference": [], "shuffle": [], "idiomatic": [], "sklearn": []}
        for _ in range(args.rounds):  # alternate the loops, so that machine noise hits all alike
            loop_seconds, wall_seconds = letterlab_epochs(preset, splits, args.epochs)
            rates["ours"] += [seen / s for s in loop_seconds]
            rates["wall"] += [seen / wall_seconds]
            rates["reference"] += [len(y) / s for s in reference_loop(preset, x, y, args.epochs)]
            if config.train.batch_order == "random":  # the homework's order should cost no more than a permutation
                rates["shuffle"] += [len(y) / s for s in letterlab_epochs(preset, splits, args.epochs, batch_order="shuffle")[0]]
            if mlp:
                rates["idiomatic"] += [len(y) / s for s in idiomatic_loop(preset, x, y, args.epochs)]
                if sklearn:
                    rates["sklearn"] += [len(y) / s for s in sklearn_epochs(preset, x, y, args.epochs)]
        best = {name: max(values) if values else None for name, values in rates.items()}
        peak = conv_peak(model, config.train.batch_size) if not mlp else matmul
        achieved = best["ours"] * training_flops_per_image(model) / 1e9
        cell = lambda name, width, best=best: f"{best[name]:>{width},.0f}" if best[name] else " " * width
        times = lambda name, best=best: f"{best['ours'] / best[name]:>6.2f}" if best[name] else " " * 6
        print(f"{preset:<16}{cell('ours', 11)}{cell('reference', 11)}{best['ours'] / best['reference']:>7.2f}{achieved:>9.1f}{peak:>6.0f}"
              f"{achieved / peak:>9.0%}{cell('wall', 12)}{cell('shuffle', 9)}{cell('idiomatic', 11)}{times('idiomatic')}{cell('sklearn', 9)}{times('sklearn')}")


if __name__ == "__main__":
    main()
