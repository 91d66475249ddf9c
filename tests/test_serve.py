"""`letterlab serve`: a real uvicorn on 127.0.0.1 (a free port), spoken to over HTTP. Answers equal
`letterlab predict`'s; every bad request gets its 4xx and a JSON error; /ready follows loading;
concurrent requests share forward passes."""

import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import letterlab
from letterlab.cli.main import main

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
from letterlab.serving.app import create_app  # noqa: E402  (needs fastapi, checked above through uvicorn's extra)
from letterlab.serving.predictors import load_served  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A few dozen bytes whose header claims width x height pixels (400 million by default)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def run(letters_npz, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    return letterlab.train("mlp-tanh-50", letters_npz(6), out=folder / "run", epochs=4, lr=0.1, device="cpu", progress=False)


@pytest.fixture(scope="module")
def server(run, live_server):
    with live_server(create_app(lambda: load_served(run.path), max_body_bytes=200_000, max_images=8)) as live:
        yield live


def test_health_ready_and_model(server, run):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/ready").json() == {"ready": True}
    info = httpx.get(f"{server.url}/v1/model").json()
    assert info["classes"] == list(letterlab.LETTERS) and info["backend"] == "torch"
    assert info["parameters"] == 784 * 50 + 50 + 50 * 10 + 10
    assert info["test_accuracy"] == run.results.test_accuracy
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_answers_equal_letterlab_predict_on_the_same_files(server, run, tmp_path, capsys):
    images = run.data().images[:4]
    files = []
    for i, image in enumerate(images):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.stack([image] * 3, -1)).resize((56, 40)).save(path)  # any size and colour
        files.append(str(path))
    assert main(["predict", str(run.path), *files, "--json", "--top-k", "3", "--device", "cpu"]) == 0
    expected = json.loads(capsys.readouterr().out)
    response = httpx.post(f"{server.url}/v1/predict", files=[("images", open(f, "rb")) for f in files])
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == len(files)
    for mine, theirs in zip(predictions, expected):
        assert [t["class"] for t in mine["top"]] == [t["letter"] for t in theirs["top"]]
        assert [t["probability"] for t in mine["top"]] == pytest.approx([t["probability"] for t in theirs["top"]], abs=1e-6)
    inverted = httpx.post(f"{server.url}/v1/predict?invert=true&top_k=1", files=[("images", open(files[0], "rb"))]).json()
    assert main(["predict", str(run.path), files[0], "--invert", "--json", "--top-k", "1", "--device", "cpu"]) == 0
    assert inverted["predictions"][0]["top"][0]["class"] == json.loads(capsys.readouterr().out)[0]["letter"]


def test_json_arrays_in_request_order(server, run):
    images = run.data().images[:5]
    body = {"images": images.tolist(), "top_k": 10}
    predictions = httpx.post(f"{server.url}/v1/predict", json=body).json()["predictions"]
    probabilities = run.predict(images)
    for row, prediction in zip(probabilities, predictions):
        top = prediction["top"]
        assert len(top) == 10 and [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)
        assert top[0]["class"] == letterlab.LETTERS[row.argmax()]
        assert top[0]["probability"] == pytest.approx(row.max(), abs=1e-6)


@pytest.mark.parametrize("name, request_args, status, says", [
    ("body over the limit", {"files": [("images", ("big.png", b"x" * 300_000))]}, 413, "over the limit"),
    ("too many images", {"files": [("images", (f"{i}.png", b"x")) for i in range(9)]}, 413, "at most 8"),
    ("not an image", {"files": [("images", ("notes.txt", b"hello"))]}, 400, "images[0] (notes.txt): not an image"),
    ("decompression bomb", {"files": [("images", ("bomb.png", bomb_png()))]}, 400, "images[0] (bomb.png): more than the 64,000,000 pixels"),
    ("too many pixels", {"files": [("images", ("huge.png", bomb_png(9000, 9000)))]}, 400, "images[0] (huge.png): 9000x9000 is more than"),
    ("top_k too large", {"params": {"top_k": 11}, "files": [("images", ("a.png", b"x"))]}, 422, "top_k"),
    ("top_k in JSON", {"json": {"images": [[[0] * 28] * 28], "top_k": 0}}, 422, "top_k"),
    ("wrong array shape", {"json": {"images": [[[0] * 28] * 27]}}, 400, "images[0]: must be a 28x28 array"),
    ("pixel out of range", {"json": {"images": [[[300] * 28] * 28]}}, 400, "images[0]"),
    ("not JSON", {"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ("no images field", {"json": {"pictures": []}}, 400, "expected a JSON object"),
    ("wrong content type", {"content": b"abc", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
    ("empty form", {"files": [("other", ("a.png", b"x"))]}, 400, "no files in the form field 'images'"),
])
def test_bad_requests_get_their_status_and_a_json_error(server, name, request_args, status, says):
    response = httpx.post(f"{server.url}/v1/predict", **request_args)
    assert response.status_code == status, (name, response.text)
    assert says in response.json()["error"], (name, response.json())
    assert httpx.get(f"{server.url}/health").status_code == 200  # and the server lives on


def test_unknown_paths_and_methods_are_json_errors(server):
    assert httpx.get(f"{server.url}/nowhere").json() == {"error": "Not Found"}
    response = httpx.get(f"{server.url}/v1/predict")
    assert response.status_code == 405 and "error" in response.json()


def test_ready_is_503_until_the_model_has_loaded(run, live_server):
    release = threading.Event()

    def slow_load():
        release.wait(20)
        return load_served(run.path)

    with live_server(create_app(slow_load), ready=False) as live:
        before = httpx.get(f"{live.url}/ready")
        assert before.status_code == 503 and before.json()["ready"] is False
        assert httpx.get(f"{live.url}/health").status_code == 200
        assert httpx.post(f"{live.url}/v1/predict", json={"images": [[[0] * 28] * 28]}).status_code == 503
        release.set()
        live.wait_ready()
        assert httpx.get(f"{live.url}/ready").json() == {"ready": True}


def test_concurrent_requests_share_forward_passes(run, live_server):
    calls = []

    def counting_load():
        model = load_served(run.path)
        forward = model.probabilities
        model.probabilities = lambda images: calls.append(len(images)) or forward(images)
        return model

    images = run.data().images
    with live_server(create_app(counting_load, window=0.01)) as live:
        with httpx.Client() as client, ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda i: client.post(f"{live.url}/v1/predict", json={"images": [images[i].tolist()]}), range(48)))
    assert all(r.status_code == 200 for r in responses)
    assert sum(calls) == 48 and len(calls) < 48  # some forward passes answered several requests
    expected = run.predict(images[:48]).argmax(1)
    got = [letterlab.LETTERS.index(r.json()["predictions"][0]["top"][0]["class"]) for r in responses]
    assert got == expected.tolist()


def test_the_serve_command_binds_loopback_and_answers(run, tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "letterlab", "serve", str(run.path), "--port", str(port), "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the server did not come up"
            time.sleep(0.2)
        image = png_bytes(run.data().images[0])
        response = httpx.post(f"{url}/v1/predict", files=[("images", ("a.png", image))])
        assert response.status_code == 200 and len(response.json()["predictions"]) == 1
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert f"on http://127.0.0.1:{port}" in output and "warning" not in output


def test_another_host_only_when_asked_and_with_a_warning(run, monkeypatch):
    from letterlab.serving import server as server_module

    bound, said, real = [], [], server_module.listening_socket

    def pretend_to_bind(host, port):  # nothing is bound to 0.0.0.0 in a test
        bound.append(host)
        return real("127.0.0.1", 0)

    monkeypatch.setattr(server_module, "listening_socket", pretend_to_bind)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    server_module.serve(run.path, host="0.0.0.0", port=1, announce=said.append)
    server_module.serve(run.path, port=1, announce=said.append)
    assert bound == ["0.0.0.0", "127.0.0.1"]
    assert said[0].startswith("warning: serving on 0.0.0.0") and not any(s.startswith("warning") for s in said[2:])


def test_the_serve_command_refuses_what_could_never_work_in_one_line(run, tmp_path, capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    cases = [([str(tmp_path / "nowhere")], "not a letterlab run folder"),
             ([str(run.path), "--port", str(taken.getsockname()[1])], "cannot listen on 127.0.0.1"),
             ([str(run.path), "--port", "99999"], "not a port number"),
             ([str(tmp_path / "missing.onnx")], "no such ONNX file")]
    try:
        for args, says in cases:
            assert main(["serve", *args]) == 2, args
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and says in err, err
    finally:
        taken.close()


def test_odd_images_are_read_as_predict_reads_them(server, run, tmp_path, capsys):
    """16-bit and transparent images keep their content; formats outside the list are refused."""
    image = run.data().images[0]
    sixteen = Image.fromarray(image.astype(np.uint16) * 257)
    alpha = Image.fromarray(np.stack([255 - image] * 3 + [np.full_like(image, 255)], -1))  # dark on opaque white
    alpha.putalpha(Image.fromarray(np.where(image > 0, 255, 0).astype(np.uint8)))  # the background transparent
    sixteen.save(tmp_path / "16.png")
    alpha.save(tmp_path / "alpha.png")
    from letterlab.data.image_file import read_letter_image

    assert np.abs(read_letter_image(tmp_path / "16.png").astype(int) - read_letter_image(_png(tmp_path, image)).astype(int)).max() <= 1
    assert read_letter_image(tmp_path / "alpha.png", invert=True)[14].max() > 0  # not a blank page
    (tmp_path / "x.dds").write_bytes(b"DDS " + b"\x7c\x00\x00\x00" + bytes(120))
    assert main(["predict", str(run.path), str(tmp_path / "x.dds")]) == 2
    assert "x.dds: not an image" in capsys.readouterr().err
    response = httpx.post(f"{server.url}/v1/predict", files=[("images", ("x.dds", (tmp_path / "x.dds").read_bytes()))])
    assert response.status_code == 400 and "not an image" in response.json()["error"]
    nested = b"{\"images\": " + b"[" * 20_000 + b"]" * 20_000 + b"}"
    response = httpx.post(f"{server.url}/v1/predict", content=nested, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]


def _png(folder, image):
    Image.fromarray(image).save(folder / "plain.png")
    return folder / "plain.png"


def test_predict_refuses_a_decompression_bomb_in_one_line(run, tmp_path, capsys):
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    assert main(["predict", str(run.path), str(tmp_path / "bomb.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bomb.png: more than the 64,000,000 pixels" in err and "decompression bomb" in err


def test_a_run_served_with_onnx_is_exported_once_and_answers_alike(run, live_server):
    pytest.importorskip("onnxruntime")
    (run.path / "model.onnx").unlink(missing_ok=True)
    first = load_served(run.path, "onnx")
    written = (run.path / "model.onnx").stat().st_mtime_ns
    second = load_served(run.path, "onnx")
    assert (run.path / "model.onnx").stat().st_mtime_ns == written and second.backend == "onnx"
    images = run.data().images[:5]
    assert np.abs(first.probabilities(images) - run.predict(images)).max() < 1e-5
    with live_server(create_app(lambda: load_served(run.path, "onnx"))) as live:
        assert live.json("/v1/model")["backend"] == "onnx"
