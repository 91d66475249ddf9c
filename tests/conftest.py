"""Small fixtures shared by the test files."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from letterlab import NUM_CLASSES
from letterlab.data.dataset import LetterImages

NOTMNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own LETTERLAB_CACHE, so no test reads or fills the user's cache."""
    cache = tmp_path / "letterlab-cache"
    monkeypatch.setenv("LETTERLAB_CACHE", str(cache))
    return cache


@pytest.fixture
def make_letters():
    """A factory for small random LetterImages: `make_letters(count=40, seed=0)`, labels cycling 0..9."""

    def make(count: int = 40, seed: int = 0, source: str = "<test>") -> LetterImages:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.int64) % NUM_CLASSES
        return LetterImages(images, labels, source)

    return make


@pytest.fixture(scope="session")
def letters_npz(tmp_path_factory):
    """A factory: `letters_npz(seed, per_class)` is the path of an .npz of font-rendered letters
    (small and learnable), made once per session in its own folder and letter cache."""
    made = {}

    def make(seed: int, per_class: int = 30) -> Path:
        if (seed, per_class) not in made:
            from letterlab.data.embedded import load_embedded

            folder = tmp_path_factory.mktemp(f"letters-{seed}-{per_class}")
            with pytest.MonkeyPatch.context() as monkey:
                monkey.setenv("LETTERLAB_CACHE", str(folder / "cache"))
                letters = load_embedded(seed=seed, per_class=per_class).train
            np.savez(folder / "letters.npz", images=letters.images, labels=letters.labels, font=letters.fonts)
            made[seed, per_class] = folder / "letters.npz"
        return made[seed, per_class]

    return make


class LiveServer:
    """uvicorn serving the ASGI `app` on 127.0.0.1 (a free port) in a thread for a with-block; with
    `ready`, entering waits until /ready answers 200."""

    def __init__(self, app, ready: bool = True):
        import socket

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.url, self.ready = f"http://127.0.0.1:{self.port}", ready

    def __enter__(self):
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        if self.ready:
            self.wait_ready()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def wait_ready(self, timeout: float = 120) -> None:
        import time

        deadline = time.monotonic() + timeout
        while self.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the model did not load"
            time.sleep(0.05)

    def get(self, path: str, **kwargs):
        import httpx

        return httpx.get(self.url + path, timeout=60, **kwargs)

    def post(self, path: str, **kwargs):
        import httpx

        return httpx.post(self.url + path, timeout=60, **kwargs)

    def json(self, path: str):
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def live_server():
    """The LiveServer class: `with live_server(app) as live: live.get("/health")`."""
    return LiveServer


@pytest.fixture
def notmnist_dir() -> Path:
    """The real notMNIST files in ../shared/data/notmnist (read-only); skips the test when absent."""
    if not NOTMNIST_DIR.is_dir():
        pytest.skip(f"real notMNIST data not found at {NOTMNIST_DIR}")
    return NOTMNIST_DIR


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium driven by selenium, as the workplace runs it (no sandbox, no background
    networking); skips the test when Chromium, chromedriver or selenium is missing."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium or chromedriver is not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,900", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
