"""`letterlab data download` against a local HTTP server: resume, size and checksum checks, verification."""

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from letterlab.data.download import download_dataset
from letterlab.errors import DataError


def small_letter_tarball() -> bytes:
    """A .tar.gz of notMNIST_small/A..J with one random PNG each."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for letter in "ABCDEFGHIJ":
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(png, format="PNG")
            member = tarfile.TarInfo(f"notMNIST_small/{letter}/x.png")
            member.size = len(png.getvalue())
            archive.addfile(member, io.BytesIO(png.getvalue()))
    return buffer.getvalue()


class FileServer:
    """Serves `files` {path: bytes} with Range support; `cut_after` bytes makes a response stop early."""

    def __init__(self):
        self.files, self.cut_after, self.ranges, self.honour_range = {}, None, [], True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                requested = self.headers.get("Range")
                server.ranges.append(requested)
                if requested and server.honour_range:
                    start = int(requested.removeprefix("bytes=").rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                end = len(body) if server.cut_after is None else min(len(body), start + server.cut_after)
                self.wfile.write(body[start:end])

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"


@pytest.fixture
def server():
    running = FileServer()
    running.files["/notMNIST_small.tar.gz"] = small_letter_tarball()
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


def test_download_checks_and_verifies(server, tmp_path):
    body = server.files["/notMNIST_small.tar.gz"]
    path, count = download_dataset("notmnist-small", url=server.url("/notMNIST_small.tar.gz"), out=tmp_path,
                                   sha256=hashlib.sha256(body).hexdigest(), progress=False)
    assert path == tmp_path / "notMNIST_small.tar.gz" and path.read_bytes() == body and count == 10
    assert not (tmp_path / "notMNIST_small.tar.gz.part").exists()


def test_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    body = server.files["/notMNIST_small.tar.gz"]
    half = len(body) // 2
    (tmp_path / "notMNIST_small.tar.gz.part").write_bytes(body[:half])
    path, _ = download_dataset("notmnist-small", url=server.url("/notMNIST_small.tar.gz"), out=tmp_path,
                               progress=False)
    assert server.ranges == [f"bytes={half}-"] and path.read_bytes() == body


def test_interrupted_download_errors_then_resumes(server, tmp_path):
    body = server.files["/notMNIST_small.tar.gz"]
    server.cut_after = len(body) // 3
    url = server.url("/notMNIST_small.tar.gz")
    with pytest.raises(DataError, match="run again to resume"):
        download_dataset("notmnist-small", url=url, out=tmp_path, progress=False)
    assert (tmp_path / "notMNIST_small.tar.gz.part").stat().st_size == len(body) // 3
    server.cut_after = None
    path, _ = download_dataset("notmnist-small", url=url, out=tmp_path, progress=False)
    assert path.read_bytes() == body and server.ranges[-1] == f"bytes={len(body) // 3}-"


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    body = server.files["/notMNIST_small.tar.gz"]
    server.honour_range = False
    (tmp_path / "notMNIST_small.tar.gz.part").write_bytes(b"stale bytes")
    path, _ = download_dataset("notmnist-small", url=server.url("/notMNIST_small.tar.gz"), out=tmp_path,
                               progress=False)
    assert path.read_bytes() == body


def test_checksum_mismatch_errors_and_keeps_no_file(server, tmp_path):
    with pytest.raises(DataError, match="sha256 mismatch"):
        download_dataset("notmnist-small", url=server.url("/notMNIST_small.tar.gz"), out=tmp_path,
                         sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_not_a_letter_archive_and_http_errors(server, tmp_path):
    server.files["/other.tar.gz"] = b"not a tarball at all"
    with pytest.raises(DataError, match="not a notMNIST archive and was deleted .*not a readable tar.gz"):
        download_dataset("notmnist-small", url=server.url("/other.tar.gz"), out=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a .part to resume from is left
    with pytest.raises(DataError, match="HTTP 404"):
        download_dataset("notmnist-small", url=server.url("/missing.tar.gz"), out=tmp_path, progress=False)


def test_extract_uses_safe_filter_and_refuses_to_overwrite(server, tmp_path):
    url = server.url("/notMNIST_small.tar.gz")
    download_dataset("notmnist-small", url=url, out=tmp_path, extract=True, progress=False)
    assert len(list((tmp_path / "notMNIST_small").glob("*/*.png"))) == 10
    with pytest.raises(DataError, match="already exists"):
        download_dataset("notmnist-small", url=url, out=tmp_path, extract=True, progress=False)


def test_cli_download(server, tmp_path, monkeypatch, capsys):
    from letterlab.cli import main as cli_main

    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["letterlab.cli.data_commands"])
    url = server.url("/notMNIST_small.tar.gz")
    assert cli_main.main(["data", "download", "notmnist-small", "--url", url, "--out", str(tmp_path)]) == 0
    assert "10 PNG images" in capsys.readouterr().out
    code = cli_main.main(["data", "download", "notmnist-small", "--url", server.url("/nope.tgz"),
                          "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "HTTP 404" in err


def _idx_files() -> dict[str, bytes]:
    """MNIST's four file names holding 12 images of digits 0..9 (train 8, test 4), gzipped."""
    import gzip
    import struct

    rng = np.random.default_rng(1)
    files = {}
    for part, count in (("train", 8), ("t10k", 4)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        files[f"{part}-images-idx3-ubyte.gz"] = gzip.compress(struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes(), mtime=0)
        files[f"{part}-labels-idx1-ubyte.gz"] = gzip.compress(struct.pack(">II", 0x801, count) + bytes(range(count)), mtime=0)
    return files


def test_known_data_set_of_several_files_md5_checked_then_read_by_name(server, tmp_path, monkeypatch):
    from dataclasses import replace

    from letterlab.data import known_datasets
    from letterlab.data.registry import load_data

    files = _idx_files()
    for name, body in files.items():
        server.files[f"/mirror/{name}"] = body
    mnist = known_datasets.KNOWN_DATASETS["mnist"]
    checked = replace(mnist, files=tuple(replace(f, md5=hashlib.md5(files[f.name]).hexdigest()) for f in mnist.files))
    monkeypatch.setitem(known_datasets.KNOWN_DATASETS, "mnist", checked)
    with pytest.raises(DataError, match="not downloaded yet .*letterlab data download mnist"):
        load_data("mnist")
    path, count = download_dataset("mnist", url=server.url("/mirror/"), progress=False)  # default --out: the data folder
    assert path == known_datasets.data_home() / "mnist" and count == 12
    loaded = load_data("mnist")
    assert loaded.train.classes == tuple("0123456789") and len(loaded.test) == 4
    tampered = replace(checked, files=(replace(checked.files[0], md5="0" * 32),) + checked.files[1:])
    monkeypatch.setitem(known_datasets.KNOWN_DATASETS, "mnist", tampered)
    with pytest.raises(DataError, match="md5 mismatch"):
        download_dataset("mnist", url=server.url("/mirror/"), progress=False)


def test_unpublished_checksum_is_recorded_on_first_download_and_checked_after(server, tmp_path):
    url = server.url("/notMNIST_small.tar.gz")
    download_dataset("notmnist-small", url=url, out=tmp_path, progress=False)
    recorded = tmp_path / "notMNIST_small.tar.gz.sha256"
    assert recorded.read_text().split()[0] == hashlib.sha256(server.files["/notMNIST_small.tar.gz"]).hexdigest()
    download_dataset("notmnist-small", url=url, out=tmp_path, progress=False)  # the same file: passes
    (tmp_path / "notMNIST_small.tar.gz").write_bytes(small_letter_tarball()[:-1] + b"x")
    with pytest.raises(DataError, match="sha256 mismatch"):
        download_dataset("notmnist-small", url=url, out=tmp_path, progress=False)


def test_emnist_zip_is_fetched_and_its_letters_extracted_upright(server, tmp_path, monkeypatch):
    import gzip
    import struct
    import zipfile
    from dataclasses import replace

    from letterlab.data import known_datasets
    from letterlab.data.registry import load_data

    upright = np.zeros((2, 28, 28), np.uint8)
    upright[:, :5, :] = 255  # a bar across the top: stored transposed, it is a bar down the left
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in ("train", "test"):
            archive.writestr(f"gzip/emnist-letters-{part}-images-idx3-ubyte.gz",
                             gzip.compress(struct.pack(">IIII", 0x803, 2, 28, 28) + upright.transpose(0, 2, 1).tobytes()))
            archive.writestr(f"gzip/emnist-letters-{part}-labels-idx1-ubyte.gz", gzip.compress(struct.pack(">II", 0x801, 2) + bytes([1, 26])))
    server.files["/gzip.zip"] = buffer.getvalue()
    emnist = known_datasets.KNOWN_DATASETS["emnist-letters"]
    monkeypatch.setitem(known_datasets.KNOWN_DATASETS, "emnist-letters",
                        replace(emnist, files=(replace(emnist.files[0], md5=hashlib.md5(buffer.getvalue()).hexdigest()),)))
    path, count = download_dataset("emnist-letters", url=server.url("/gzip.zip"), progress=False)
    assert count == 4 and sorted(p.name for p in path.iterdir())[0] == "emnist-letters-test-images-idx3-ubyte.gz"
    loaded = load_data("emnist-letters")
    assert loaded.train.classes[0] == "A" and len(loaded.train.classes) == 26
    assert np.array_equal(loaded.test.images, upright) and loaded.test.labels.tolist() == [0, 25]  # A and Z
