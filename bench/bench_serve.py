"""Serving under bounded load on 127.0.0.1: letterlab's server (micro-batched) against a naive
FastAPI server written here (one torch forward per request, no batching), measured in the same run.

    python bench/bench_serve.py [--run RUN] [--requests 400] [--clients 1,8,32]

Without --run, a `cnn` run is trained first (1 epoch on the embedded default; speed does not depend
on accuracy). Each client is a keep-alive connection sending one single-image PNG request at a time
(multipart, as a browser or a script would), a fixed number in all, from a small asyncio client
with prebuilt requests (httpx's own CPU cost capped the rates it measured). Prints requests/s, p50
and p99 latency and errors per server and concurrency, and requests/s as a ratio of the naive server's."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NAIVE_SERVER = '''
import io, sys
import numpy as np, torch
from fastapi import FastAPI, File, UploadFile
from PIL import Image
import uvicorn
from letterlab import LETTERS
from letterlab.evaluation.trained import load_trained

_, model = load_trained(sys.argv[1])
app = FastAPI()

@app.get("/ready")
def ready():
    return {"ready": True}

@app.post("/v1/predict")
def predict(images: list[UploadFile] = File(...)):
    out = []
    for upload in images:
        image = Image.open(io.BytesIO(upload.file.read())).convert("L").resize((28, 28))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)[None, None]
        with torch.inference_mode():
            p = torch.softmax(model(x), 1)[0]
        best = torch.argsort(p, descending=True)[:3]
        out.append({"top": [{"class": LETTERS[i], "probability": float(p[i])} for i in best]})
    return {"predictions": out}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], port: int):
    import httpx

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server {command} did not come up")


def request_bytes(port: int, image: bytes) -> bytes:
    """One keep-alive HTTP/1.1 POST of a single PNG as multipart, built once (the load generator
    must cost little CPU: it shares the machine with the server)."""
    boundary = b"letterlabbenchboundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="images"; filename="letter.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + image + b"\r\n--" + boundary + b"--\r\n")
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; boundary="
            f"{boundary.decode()}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def exchange(reader, writer, request: bytes) -> bool:
    """Send one request on an open connection and read its whole response; True for a 200 with one prediction."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    body = await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200") and body.count(b'"top"') == 1


async def load(port: int, images: list[bytes], requests: int, clients: int) -> dict:
    """`requests` single-image requests from `clients` concurrent keep-alive connections."""
    payloads = [request_bytes(port, image) for image in images]
    latencies, errors, counter = [], 0, iter(range(requests))

    async def client():
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # warm-up, not counted
            await exchange(reader, writer, payloads[0])
        await start.wait()
        for k in counter:
            started = time.perf_counter()
            try:
                ok = await exchange(reader, writer, payloads[k % len(payloads)])
            except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError):
                ok = False
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            latencies.append(time.perf_counter() - started)
            errors += not ok
        writer.close()

    start = asyncio.Event()
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(0.5)  # every connection open and warm
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - began
    ms = sorted(1000 * x for x in latencies)
    return {"rps": requests / seconds, "p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(0.99 * len(ms)))], "errors": errors}


def cnn_run(folder: Path) -> Path:
    import letterlab

    return letterlab.train("cnn", out=folder / "cnn", epochs=1, log_probes=False, device="cpu", progress=False).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder to serve (default: train a 1-epoch cnn run)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--backends", default="torch,onnx", help="letterlab's server with each of these backends")
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as scratch:
        run = Path(args.run) if args.run else cnn_run(Path(scratch))
        rng = np.random.default_rng(0)
        images = []
        for _ in range(16):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        naive_script = Path(scratch) / "naive_server.py"
        naive_script.write_text(NAIVE_SERVER)
        servers = {f"letterlab-{backend}": (lambda port, backend=backend: [
            sys.executable, "-m", "letterlab", "serve", str(run), "--port", str(port), "--device", "cpu", "--backend", backend,
        ]) for backend in args.backends.split(",")}
        servers["naive"] = lambda port: [sys.executable, str(naive_script), str(run), str(port)]
        results = {}
        for name, command in servers.items():
            port = free_port()
            process = start(command(port), port)
            try:
                for clients in map(int, args.clients.split(",")):
                    results[name, clients] = asyncio.run(load(port, images, args.requests, clients))
            finally:
                process.terminate()
                process.wait(20)
    print(f"{os.cpu_count()} CPUs; {args.requests} single-image requests per row; model: {run.name}")
    print(f"{'server':<17}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'x naive':>9}")
    for (name, clients), r in results.items():
        ratio = r["rps"] / results["naive", clients]["rps"]
        print(f"{name:<17}{clients:>8}{r['rps']:>9.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}{ratio:>9.2f}")


if __name__ == "__main__":
    main()
