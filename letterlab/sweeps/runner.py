"""A sweep on Ray Tune: every (variant, seed) of a spec, or `trials` settings drawn from its search
ranges, trained as ordinary run folders under OUT/<variant>/seed<k> (`sweeps.trial`).

Without an address, Ray starts in-process on this machine (dashboard off, its session files under
OUT/ray, its log lines kept out of the terminal) and stops at the end; with one (`auto`,
`host:port`, `ray://host:port`) the sweep runs on that cluster, whose nodes must all see OUT.
The run folders are the sweep's memory: running the same command again reuses finished trials,
resumes interrupted ones from their checkpoints and retrains failed ones; Tune's own experiment
state is not used for that (OUT/tune is rewritten by every sweep)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from letterlab.data.run_data import load_splits
from letterlab.errors import LetterlabError
from letterlab.pipeline import run_status
from letterlab.run_config import run_from_dict, to_dict
from letterlab.runs import RunLock
from letterlab.sweeps.results import SweepResult, TrialResult, summarise, write_hparams, write_sweep_json
from letterlab.sweeps.spec import FOLD_BY, SweepSpec, Variant, searched_variant
from letterlab.sweeps.trial import TrialPlan, train_trial, trial_folder, unpack_correct

SEARCHES = ("random", "optuna")
MAX_FAILURES = 2  # a failed trial (a worker killed, a node lost) is retried this often, from its checkpoint
_UNIX_SOCKET_PATH_MAX = 107
_RAY_SOCKET_TAIL = len("/session_2026-01-01_00-00-00_000000_1234567/sockets/plasma_store")


def _ray_modules():
    try:
        import ray
        from ray import tune
    except ImportError:
        raise LetterlabError("letterlab sweep needs Ray Tune: pip install 'letterlab[sweep]' (or pip install 'ray[tune]')") from None
    return ray, tune


def _check_reachable(address: str) -> None:
    """A host:port address answers a TCP connection within 5 s, or the sweep stops before Ray tries
    (and retries for a minute)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error) or type(error).__name__
        raise LetterlabError(f"{address}: no Ray cluster answers there ({reason}); start one with `ray start --head`") from None


def _ray_temp_dir(out: Path) -> tuple[Path, bool]:
    """Where a local Ray keeps its session files: OUT/ray, unless that path is too long for Ray's
    Unix sockets; then a temporary folder, removed at the end (the second value says so)."""
    wanted = out.resolve() / "ray"
    if len(str(wanted)) + _RAY_SOCKET_TAIL <= _UNIX_SOCKET_PATH_MAX:
        if wanted.exists():  # keep only the last session's logs
            for old in wanted.glob("session_2*"):
                shutil.rmtree(old, ignore_errors=True)
        return wanted, False
    return Path(tempfile.mkdtemp(prefix="letterlab-ray-")), True


def _connect(ray, address: str | None, out: Path) -> Callable[[], None]:
    """Start or join Ray; returns what undoes it (nothing when the caller had Ray running)."""
    if ray.is_initialized():  # the caller's own Ray (a notebook's ray.init): used as it is
        if address is not None:
            raise LetterlabError(f"{address}: Ray is already running in this process; leave out the address or ray.shutdown() first")
        return lambda: None
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        temp_dir, temporary = _ray_temp_dir(out)
        ray.init(include_dashboard=False, _temp_dir=str(temp_dir), _node_ip_address="127.0.0.1", **quiet)

        def stop() -> None:
            ray.shutdown()
            if temporary:
                shutil.rmtree(temp_dir, ignore_errors=True)

        return stop
    _check_reachable(address)
    host = address.rpartition(":")[0]
    if host in ("127.0.0.1", "localhost"):  # a cluster on this machine's loopback: this node is there too (not for ray://)
        quiet["_node_ip_address"] = "127.0.0.1"
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise LetterlabError(f"{address}: cannot join that Ray cluster ({str(error).splitlines()[0]})") from None
    return ray.shutdown


def _check_resources(ray, cpus: float, gpus: float, address: str | None) -> None:
    """Some node can hold a trial, or the sweep would wait for one for ever."""
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if not any(node.get("CPU", 0) >= cpus and node.get("GPU", 0) >= gpus for node in nodes):
        biggest = max(nodes, key=lambda node: (node.get("GPU", 0), node.get("CPU", 0)), default={})
        raise LetterlabError(f"{address or 'this machine'}: no Ray node has {cpus:g} CPU(s) and {gpus:g} GPU(s) for a trial "
                             f"(the largest has {biggest.get('CPU', 0):g} and {biggest.get('GPU', 0):g}); "
                             "lower --cpus-per-trial / --gpus-per-trial")


@contextmanager
def _quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def plan_trial(variant: Variant, seed: int, out: Path, threads: int, device: str, fold: int | None = None,
               folds: int = 0, fold_by: str = "font") -> TrialPlan:
    """The trial of `variant` with `seed`, in OUT/<variant>/seed<k>; with `fold`, validating on that
    fold of `folds` (split as `fold_by` says), in OUT/<variant>/seed<k>-fold<f>."""
    changes: dict = {"seed": seed}
    if fold is not None:
        changes |= {"val_folds": folds, "val_fold": fold, "val_split": FOLD_BY[fold_by]}
    config = dataclasses.replace(variant.config, train=dataclasses.replace(variant.config.train, **changes))
    return TrialPlan(variant.name, seed, str(out / variant.name / trial_folder(seed, fold)), to_dict(config), threads, device, fold)


def _tune_trial(param: dict, sweep: dict) -> None:
    """The function Tune runs for each trial (in a worker): a planned trial, or a search trial's
    sampled settings turned into one."""
    from ray import tune

    if "plan" in param:
        plan = TrialPlan(**param["plan"])
    else:
        variant = searched_variant(sweep["base"], param["settings"], sweep["spec"])
        plan = plan_trial(variant, sweep["seed"], Path(sweep["out"]), sweep["threads"], sweep["device"])
    train_trial(plan, tune.report)


def plan_trials(spec: SweepSpec, out: Path, threads: int, device: str) -> list[TrialPlan]:
    """Every (variant, seed[, fold]) of the spec, variant by variant."""
    return [plan_trial(v, seed, out, threads, device, fold, spec.folds, spec.fold_by)
            for v in spec.variants for seed in spec.seeds for fold in spec.fold_numbers]


def _refuse_other_runs(plans: list[TrialPlan]) -> None:
    """A trial folder holding a run with other settings (the spec changed since) is refused before
    Ray starts, as `reproduce` refuses it."""
    for plan in plans:
        if run_status(Path(plan.run_dir), run_from_dict(plan.config)) == "different":
            raise LetterlabError(f"{plan.run_dir}: holds a run with other settings; remove it or choose another --out")


@contextmanager
def _environment(values: dict[str, str]):
    """Environment variables set for a block (a caller's own values win), then restored."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _search_space(tune, spec: SweepSpec) -> dict:
    space = {}
    for path, r in spec.search.items():
        if r.choices:
            space[path] = tune.choice(list(r.choices))
        elif r.integer:
            space[path] = tune.lograndint(int(r.low), int(r.high) + 1) if r.log else tune.randint(int(r.low), int(r.high) + 1)
        else:
            space[path] = tune.loguniform(r.low, r.high) if r.log else tune.uniform(r.low, r.high)
    return {"settings": space}


def _trial_name(trial) -> str:
    """'variant/seedK' (or 'variant/seedK-foldF') of a Tune trial, from its plan or its last report."""
    source = trial.config.get("plan") or trial.last_result or {}
    return f"{source.get('variant', trial.trial_id)}/{trial_folder(source.get('seed', '?'), source.get('fold'))}"


def _callback(tune, total: int, announce: Callable[[str], None], progress: bool | None):
    """Driver-side: a line per finished (or failed, or retried) trial and a bar over all of them."""
    from letterlab.training.progress import is_watched

    bar = None
    if progress or (progress is None and is_watched()):
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="sweep", unit="trial", leave=False)
    say = bar.write if bar is not None else announce

    class Lines(tune.Callback):
        finished = 0

        def on_trial_complete(self, iteration, trials, trial, **info):
            Lines.finished += 1
            r = trial.last_result
            name = _trial_name(trial)
            if "test_accuracy" in r:
                say(f"[{Lines.finished}/{total}] {name}: {r['status']}, validation {r['val_accuracy']:.4f}, "
                    f"test {r['test_accuracy']:.4f}, {r['train_seconds']:.1f} s of training")
            else:
                say(f"[{Lines.finished}/{total}] {name}: stopped early by ASHA after epoch {r.get('epoch')}")
            if bar is not None:
                bar.update(1)

        def on_trial_recover(self, iteration, trials, trial, **info):
            say(f"{_trial_name(trial)}: failed, retrying from its checkpoint")

        def on_trial_error(self, iteration, trials, trial, **info):
            Lines.finished += 1
            say(f"[{Lines.finished}/{total}] {_trial_name(trial)}: failed after {MAX_FAILURES + 1} attempts")
            if bar is not None:
                bar.update(1)

        def on_experiment_end(self, trials, **info):
            if bar is not None:
                bar.close()

    return Lines()


def run_sweep(spec: SweepSpec, out: Path, *, address: str | None = None, max_concurrent: int | None = None,
              cpus_per_trial: float = 1, gpus_per_trial: float = 0, search: str | None = None, trials: int = 8,
              asha: bool = False, progress: bool | None = None, announce: Callable[[str], None] = lambda _: None) -> SweepResult:
    """Run the sweep into `out`; returns (and writes as OUT/sweep.json) its trials and per-variant
    summary, and writes TensorBoard's HParams rows."""
    if search is not None and search not in SEARCHES:
        raise LetterlabError(f"--search must be one of {', '.join(SEARCHES)}, got {search!r}")
    if search and not spec.search:
        raise LetterlabError(f"{spec.path}: --search needs a [search] table of ranges")
    if search and spec.folds:
        raise LetterlabError(f"{spec.path}: --search judges each draw on one validation part; folds are for variants and grids")
    if cpus_per_trial < 1 or gpus_per_trial < 0 or (max_concurrent is not None and max_concurrent < 1) or trials < 1:
        raise LetterlabError("--cpus-per-trial must be >= 1 (a trial's torch threads), --gpus-per-trial >= 0, "
                             "--max-concurrent and --trials >= 1")
    ray, tune = _ray_modules()
    out = out.resolve()
    if not search:
        plans = plan_trials(spec, out, 1, "cpu")
        _refuse_other_runs(plans)
        if spec.folds:  # data that cannot be cut into these folds is refused here, not in every trial
            load_splits(run_from_dict(plans[0].config))
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Tune writes no CSV/JSON/TensorBoard copies of its own, and prints no status tables.
    with RunLock(out), _environment({"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0"}):
        stop_ray = _connect(ray, address, out)
        ray_start = time.perf_counter() - started
        try:
            _check_resources(ray, cpus_per_trial, gpus_per_trial, address)
            with _quiet_logger("ray"):  # failures are reported as one line each (and kept in sweep.json)
                results = _fit(tune, spec, out, address, max_concurrent, cpus_per_trial, gpus_per_trial, search, trials, asha,
                               progress, announce)
        finally:
            stop_ray()
    trial_results, correct, variants = results
    summary = SweepResult(str(spec.path), str(out), trial_results, summarise(variants, trial_results, correct),
                          time.perf_counter() - started, ray_start)
    write_sweep_json(out, summary)
    write_hparams(trial_results, {v.name: v for v in variants})
    return summary


def _fit(tune, spec, out, address, max_concurrent, cpus, gpus, search, trials, asha, progress, announce):
    threads, device = max(1, int(cpus)), "cuda" if gpus > 0 else "cpu"
    static = {"base": to_dict(spec.base), "spec": str(spec.path), "seed": spec.seeds[0], "out": str(out),
              "threads": threads, "device": device}
    if search:
        space, samples, total = _search_space(tune, spec), trials, trials
        if search == "optuna":
            from ray.tune.search.optuna import OptunaSearch

            search_alg = OptunaSearch(metric="val_accuracy", mode="max", seed=spec.seeds[0])
        else:
            from ray.tune.search.basic_variant import BasicVariantGenerator

            search_alg = BasicVariantGenerator(random_state=spec.seeds[0])  # the same draws on a rerun
    else:
        plans = plan_trials(spec, out, threads, device)
        space, samples, total, search_alg = {"plan": tune.grid_search([dataclasses.asdict(p) for p in plans])}, 1, len(plans), None
    scheduler = None
    if asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="epoch", metric="val_accuracy", mode="max",
                                  max_t=max([1] + [v.config.train.epochs for v in spec.variants]), grace_period=1)
    shutil.rmtree(out / "tune", ignore_errors=True)
    # With Ray Client (ray://) Tune itself runs on the head node, where a callback's lines would
    # not reach this terminal: each trial's line is printed from the results instead.
    client = (address or "").startswith("ray://")
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_tune_trial, sweep=static), {"cpu": cpus, "gpu": gpus}),
        param_space=space,
        tune_config=tune.TuneConfig(num_samples=samples, max_concurrent_trials=max_concurrent, search_alg=search_alg,
                                    scheduler=scheduler, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(out / "tune"), name="trials", verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                                  callbacks=[] if client else [_callback(tune, total, announce, progress)]))
    grid = tuner.fit()
    variants: dict[str, Variant] = {} if search else {v.name: v for v in spec.variants}  # a search reports what it drew
    trial_results, correct, seen = [], {}, set()
    for result in grid:
        r, config = result.metrics or {}, result.config or {}
        plan = config.get("plan")
        name = r.get("variant") or (plan["variant"] if plan else None)
        if name is None and "settings" not in config:  # a trial Tune never started (Ctrl-C): nothing of it is known
            continue
        if name is None:  # a search trial that failed before its first report
            name = searched_variant(static["base"], config["settings"], static["spec"]).name
        if name not in variants:
            variants[name] = searched_variant(static["base"], config["settings"], static["spec"])
        seed = r.get("seed", plan["seed"] if plan else static["seed"])
        fold = r.get("fold", plan["fold"] if plan else None)
        run = r.get("run") or (plan["run_dir"] if plan else str(out / name / f"seed{seed}"))
        if run in seen:  # a search drew the same settings twice: one trial, counted once
            continue
        seen.add(run)
        if result.error is not None:
            trial_results.append(TrialResult(name, seed, run, "failed", fold=fold, error=str(result.error).strip().splitlines()[-1][:300]))
        elif "test_accuracy" not in r:
            trial_results.append(TrialResult(name, seed, run, "stopped" if asha else "interrupted", epochs=r.get("epoch"),
                                             val_accuracy=r.get("val_accuracy"), fold=fold))
        else:
            trial_results.append(TrialResult(name, seed, run, r["status"], r["epoch"], r["val_accuracy"], r["test_accuracy"],
                                             r["train_seconds"], r["parameters"], r["wall_seconds"], r["node"], fold=fold))
            correct[(name, seed, fold)] = (r["test_digest"], unpack_correct(r["test_correct"], r["test_n"]))
        if client:
            trial = trial_results[-1]
            announce(f"{trial.name}: {trial.status}"
                     + (f", validation {trial.val_accuracy:.4f}, test {trial.test_accuracy:.4f}" if trial.test_accuracy is not None else ""))
    if not search:  # planned trials Tune never started are unfinished too
        trial_results += [TrialResult(p.variant, p.seed, p.run_dir, "interrupted", fold=p.fold) for p in plans if p.run_dir not in seen]
    order = {name: i for i, name in enumerate(variants)}
    trial_results.sort(key=lambda t: (order[t.variant], t.seed, t.fold or 0))
    return trial_results, correct, list(variants.values())
