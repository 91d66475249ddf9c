"""`letterlab serve`: the HTTP API on uvicorn. Binds 127.0.0.1 unless another host is given (then
with a warning); one worker process using the cores it may run on, no more."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

from letterlab.errors import LetterlabError
from letterlab.serving.onnx_model import cores
from letterlab.serving.predictors import load_served


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def explorer_of(runs: list[Path], device):
    import letterlab
    from letterlab.serving.explore import Explorer

    return Explorer([letterlab.load_run(path, device) for path in runs])


def serve(model: str | Path, model_b: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          backend: str | None = None, device=None, threads: int | None = None, announce: Callable[[str], None] = print,
          **limits) -> None:
    """Serve `model` (a run folder or an .onnx file) until interrupted: the JSON API for it, and for
    run folders the explorer page at `/` (with `model_b`, a second run side by side). `limits` are
    create_app's (max_body_bytes, max_images, window, cors_origins).

    One worker process on the cores it may use, and no more: the forward passes get `threads` of
    them (default all: torch's threads or onnxruntime's), whose idle threads sleep rather than spin
    (`letterlab serve` starts with OMP_WAIT_POLICY=PASSIVE), so the event loop (HTTP, image decoding,
    JSON) gets a core when it needs one (docs/performance.md). The server owns its process, so
    setting torch's thread count here is the one global it changes."""
    try:
        import uvicorn

        from letterlab.serving.app import create_app
    except ImportError as error:
        raise LetterlabError(f"serving needs fastapi, uvicorn and python-multipart ({error}); pip install 'letterlab[serve]'") from None
    import torch

    threads = threads or cores()
    torch.set_num_threads(threads)
    if not is_loopback(host):
        announce(f"warning: serving on {host}, reachable from other machines; letterlab has no authentication")
    runs = [Path(path) for path in (model, model_b) if path is not None]
    if model_b is not None and any(path.suffix == ".onnx" for path in runs):
        raise LetterlabError("two models side by side are two run folders; an .onnx file is served alone")
    explorer = None if runs[0].suffix == ".onnx" else lambda: explorer_of(runs, device)
    loopback = ("127.0.0.1", "localhost", "::1", "[::1]") if is_loopback(host) else None
    app = create_app(lambda: load_served(model, backend, device, threads=threads), explorer=explorer, allowed_hosts=loopback, **limits)
    shown = " and ".join(map(str, runs))
    announce(f"serving {shown} on http://{host}:{port}: " + ("the explorer at /, " if explorer else "")
             + "the API at /v1/predict (docs at /docs); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", workers=1)
