"""`letterlab serve`: the HTTP API on uvicorn. Binds 127.0.0.1 unless another host is given (then
with a warning); one worker process using the cores it may run on, no more."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from letterlab.errors import LetterlabError
from letterlab.runs import CONFIG, WEIGHTS
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


def check_model(path: Path, backend: str | None) -> None:
    """Refuse, before the server starts, what could never load: a missing path, a folder that is no
    finished run, an .onnx file with the torch backend."""
    if path.suffix == ".onnx":
        if not path.is_file():
            raise LetterlabError(f"{path}: no such ONNX file")
        if backend not in (None, "onnx"):
            raise LetterlabError(f"{path}: an .onnx file is served with --backend onnx, not {backend}")
        return
    if not (path / CONFIG).exists():
        raise LetterlabError(f"{path}: not a letterlab run folder (no {CONFIG})")
    if not (path / WEIGHTS).exists():
        raise LetterlabError(f"{path}: no {WEIGHTS}; is this a finished letterlab run?")


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket uvicorn will serve on; a one-line error if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise LetterlabError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
    sock.listen(2048)
    return sock


def serve(model: str | Path, model_b: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          backend: str | None = None, device=None, threads: int | None = None, announce: Callable[[str], None] = print,
          **limits) -> None:
    """Serve `model` (a run folder or an .onnx file) until interrupted: the JSON API for it, and for
    run folders the explorer page at `/` (with `model_b`, a second run side by side). `limits` are
    create_app's (max_body_bytes, max_images, window, cors_origins).

    One worker process on the cores it may use, and no more: the forward passes get `threads` of
    them (default all: torch's threads or onnxruntime's), whose idle threads sleep rather than spin
    (`letterlab serve` starts with OMP_WAIT_POLICY=PASSIVE), so the event loop (HTTP, image decoding,
    JSON) gets a core when it needs one (docs/performance.md). The server owns its process, so it
    sets torch's thread count (the one global it changes), once the port is bound."""
    try:
        import uvicorn

        from letterlab.serving.app import create_app
    except ImportError as error:
        raise LetterlabError(f"serving needs fastapi, uvicorn and python-multipart ({error}); pip install 'letterlab[serve]'") from None
    import torch

    if not 0 <= port <= 65535:
        raise LetterlabError(f"--port {port}: not a port number (0-65535)")
    runs = [Path(path) for path in (model, model_b) if path is not None]
    if model_b is not None and any(path.suffix == ".onnx" for path in runs):
        raise LetterlabError("two models side by side are two run folders; an .onnx file is served alone")
    for path in runs:
        check_model(path, backend)
    sock = listening_socket(host, port)
    threads = threads or cores()
    torch.set_num_threads(threads)
    if not is_loopback(host):
        announce(f"warning: serving on {host}, reachable from other machines; letterlab has no authentication")
    explorer = None if runs[0].suffix == ".onnx" else lambda: explorer_of(runs, device)
    allowed = ("127.0.0.1", "localhost", "::1", "[::1]", host, f"[{host}]") if is_loopback(host) else None
    app = create_app(lambda: load_served(model, backend, device, threads=threads), explorer=explorer, allowed_hosts=allowed, **limits)
    shown = " and ".join(map(str, runs))
    url = f"http://[{host}]:{sock.getsockname()[1]}" if ":" in host else f"http://{host}:{sock.getsockname()[1]}"
    announce(f"serving {shown} on {url}: " + ("the explorer at /, " if explorer else "") + "the API at /v1/predict (docs at /docs); Ctrl-C stops")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", workers=1))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
