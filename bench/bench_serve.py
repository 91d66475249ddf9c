"""Serving under bounded load on 127.0.0.1: letterlab's server (micro-batched) against a naive
FastAPI server written here (one torch forward per request, no batching), measured in the same run.

    python bench/bench_serve.py [--run RUN] [--requests 400] [--clients 1,8,32]

Without --run, a `cnn` run is trained first (1 epoch on the embedded default; speed does not depend
on accuracy). Each client sends one single-image PNG request at a time (multipart, as a browser or
a script would), a fixed number in all; prints requests/s, p50 and p99 latency and errors per
server and concurrency, and letterlab's requests/s as a ratio of the naive server's."""

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


async def load(url: str, images: list[bytes], requests: int, clients: int) -> dict:
    """`requests` single-image requests from `clients` concurrent clients: rate, latencies, errors."""
    import httpx

    latencies, errors, counter = [], 0, iter(range(requests))

    async def client(session):
        nonlocal errors
        for k in counter:
            started = time.perf_counter()
            try:
                response = await session.post(url, files=[("images", ("letter.png", images[k % len(images)], "image/png"))])
                ok = response.status_code == 200 and len(response.json()["predictions"]) == 1
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as session:
        for _ in range(10):  # warm-up, not counted
            await session.post(url, files=[("images", ("letter.png", images[0], "image/png"))])
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - started
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
        servers = {"letterlab": lambda port: [sys.executable, "-m", "letterlab", "serve", str(run), "--port", str(port), "--device", "cpu"],
                   "naive": lambda port: [sys.executable, str(naive_script), str(run), str(port)]}
        results = {}
        for name, command in servers.items():
            port = free_port()
            process = start(command(port), port)
            try:
                for clients in map(int, args.clients.split(",")):
                    results[name, clients] = asyncio.run(load(f"http://127.0.0.1:{port}/v1/predict", images, args.requests, clients))
            finally:
                process.terminate()
                process.wait(20)
    print(f"{os.cpu_count()} CPUs; {args.requests} single-image requests per row; model: {run.name}")
    print(f"{'server':<11}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'x naive':>9}")
    for (name, clients), r in results.items():
        ratio = r["rps"] / results["naive", clients]["rps"]
        print(f"{name:<11}{clients:>8}{r['rps']:>9.1f}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}{ratio:>9.2f}")


if __name__ == "__main__":
    main()
