"""The HTTP API (FastAPI): `POST /v1/predict`, `GET /health`, `GET /ready`, `GET /v1/model`, and
FastAPI's OpenAPI page at `/docs`. Every error is JSON `{"error": ...}` with a 4xx status for bad
requests (never a 500); the wire format of /v1/predict is a contract (a change gets a new path).

    {"predictions": [{"top": [{"class": "A", "probability": 0.93}, ...]}, ...]}  # one per image, in order"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from letterlab.errors import DataError, LetterlabError
from letterlab.serving.batching import MicroBatcher
from letterlab.serving.predictors import ranked

STATIC = Path(__file__).with_name("static")  # the explorer page

MAX_BODY_BYTES = 8 * 2**20
MAX_IMAGES = 256  # per request
TOP_K = 3
TOP_K_MAX = 10

PREDICT_BODY = {  # for the OpenAPI page: the two request forms the endpoint reads itself
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "images": {"type": "array", "items": {"type": "string", "format": "binary"},
                       "description": "PNG/JPEG files of any size and colour, converted as `letterlab predict` converts them"}}}},
        "application/json": {"schema": {"type": "object", "required": ["images"], "properties": {
            "images": {"type": "array", "description": "28x28 arrays of 0-255 (white letter on black)",
                       "items": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}},
            "top_k": {"type": "integer", "minimum": 1, "maximum": TOP_K_MAX, "default": TOP_K},
            "invert": {"type": "boolean", "default": False}}}},
    },
}


class RequestError(Exception):
    """A bad request: its status (400, 413, 422) and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(load: Callable[[], object], *, explorer: Callable[[], object] | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               max_images: int = MAX_IMAGES, window: float = 0.0, cors_origins: tuple[str, ...] = (),
               allowed_hosts: tuple[str, ...] | None = None):
    """The app; `load()` returns the model (via `serving.predictors`) and `explorer()` the explorer
    of the run folders (`serving.explore`; None for an .onnx file). Both run on a thread once the
    server is up, so /health answers at once and /ready once they are loaded. `allowed_hosts`: the
    Host names accepted (a page elsewhere cannot then reach a loopback server by DNS rebinding)."""

    state: dict = {"model": None, "batcher": None, "explorer": None, "failed": None, "explorer_failed": None}

    def load_in_background(loop) -> None:
        try:
            model = load()
        except Exception as error:  # reported by /ready and on stderr; the server keeps answering
            state["failed"] = f"the model did not load: {error}"
            print(f"letterlab: error: {state['failed']}", file=sys.stderr, flush=True)
            return
        batcher = MicroBatcher(model.probabilities, window=window, max_images=max_images,
                               batch_independent=model.batch_independent)
        loop.call_soon_threadsafe(lambda: (batcher.start(), state.update(model=model, batcher=batcher)))
        if explorer:
            try:
                explored = explorer()
            except Exception as error:  # the JSON API still serves the model
                state["explorer_failed"] = f"the explorer did not load: {error}"
                print(f"letterlab: error: {state['explorer_failed']}", file=sys.stderr, flush=True)
                return
            loop.call_soon_threadsafe(lambda: state.update(explorer=explored))

    @asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=load_in_background, args=(asyncio.get_running_loop(),), daemon=True, name="letterlab-load").start()
        yield
        if state["batcher"] is not None:
            await state["batcher"].stop()

    app = FastAPI(title="letterlab", summary="Letter classification with a trained letterlab model", lifespan=lifespan)
    if allowed_hosts:
        app.add_middleware(HostCheck, allowed=set(allowed_hosts))
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"])

    @app.exception_handler(RequestError)
    async def request_error(_, error: RequestError):
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(_, error: HTTPException):
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        return JSONResponse({"error": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_, error: Exception):  # a bug of ours: still JSON, and the server lives on
        return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)

    @app.get("/health")
    async def health() -> dict:
        """The server is alive."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        """The model is loaded and answering (503 until then)."""
        if state["model"] is None:
            return JSONResponse({"ready": False, "error": state["failed"] or "loading the model"}, status_code=503)
        if has_explorer_ready() is False:
            return JSONResponse({"ready": False, "error": state["explorer_failed"] or "loading the explorer"}, status_code=503)
        return {"ready": True}

    def has_explorer_ready() -> bool | None:
        """None without an explorer; else whether it has loaded."""
        return None if explorer is None else state["explorer"] is not None

    @app.get("/v1/model")
    async def model_info():
        """Classes, parameters, test accuracy, training-data hash and backend of the served model."""
        return loaded().info()

    def loaded():
        if state["model"] is None:
            raise RequestError(503, state["failed"] or "the model is still loading; see /ready")
        return state["model"]

    @app.post("/v1/predict", openapi_extra={"requestBody": PREDICT_BODY})
    async def predict(request: Request, top_k: int = Query(TOP_K, ge=1, le=TOP_K_MAX), invert: bool = False):
        """Top-k classes with probabilities for each image: multipart files in `images`, or JSON
        {"images": [28x28 arrays of 0-255], "top_k": 3}. `invert`: dark letters on light."""
        model = loaded()
        body = await read_limited(request, max_body_bytes)
        kind = request.headers.get("content-type", "").lower()
        if kind.startswith("multipart/form-data"):
            images = await images_from_form(request, body, max_images, invert)
        elif kind.startswith("application/json"):
            images, top_k = images_from_json(body, max_images, invert, top_k)
        else:
            raise RequestError(415, "send multipart/form-data with files in 'images', or JSON {\"images\": [...]}")
        probabilities = await state["batcher"].predict(images)
        return JSONResponse({"predictions": [{"top": ranked(row, model.classes, top_k)} for row in probabilities]})

    add_explorer_routes(app, state, max_body_bytes, has_explorer=explorer is not None)
    return app


class HostCheck:
    """ASGI middleware: refuse requests whose Host (without its port) is not in `allowed`, with a
    JSON 400, so a page elsewhere cannot reach a loopback server by DNS rebinding."""

    def __init__(self, app, allowed: set[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed:
                await JSONResponse({"error": f"Host {host!r} is not served here"}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_explorer_routes(app: FastAPI, state: dict, max_body_bytes: int, has_explorer: bool) -> None:
    """The explorer page at `/` (static files beside this module) and its JSON API under /v1/explorer."""
    from fastapi.responses import FileResponse, HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        if not has_explorer:
            return HTMLResponse("<!doctype html><title>letterlab</title><p>This server serves an exported .onnx file: the "
                                "explorer needs run folders (<code>letterlab serve RUN [RUN_B]</code>). The API is at "
                                "<a href='/docs'>/docs</a>.</p>")
        return FileResponse(STATIC / "index.html")

    def explored():
        if state["explorer"] is None:
            if state["explorer_failed"]:
                raise RequestError(503, state["explorer_failed"])
            if state["model"] is None or (has_explorer and not state["failed"]):
                raise RequestError(503, state["failed"] or "the explorer is still loading; see /ready")
            raise RequestError(404, "no explorer: serve run folders (letterlab serve RUN [RUN_B]), not an .onnx file")
        return state["explorer"]

    def answer(function, *args):
        try:
            return JSONResponse(function(*args))
        except LookupError as error:
            raise RequestError(404, str(error).strip("'\"")) from None
        except (ValueError, LetterlabError) as error:
            raise RequestError(400, str(error)) from None

    @app.get("/v1/explorer/runs")
    async def runs():
        """The runs shown: name, preset, kind, classes, test accuracy, epochs, whether a replay exists."""
        return answer(explored().runs_info)

    @app.post("/v1/explorer/explain", openapi_extra={"requestBody": EXPLAIN_BODY})
    async def explain(request: Request):
        """One input through the runs: top classes and, with detail "full", what happens inside."""
        body = await read_limited(request, max_body_bytes)
        image, label, runs, detail = await asyncio.to_thread(explain_request, body, explored())
        return await asyncio.to_thread(answer, explored().explain, image, runs, detail, label)

    @app.get("/v1/explorer/test/{run}")
    async def test(run: int):
        """The run's test set: confusion matrix, per-class precision and recall, accuracy."""
        return answer(explored().test_summary, run)

    @app.get("/v1/explorer/test/{run}/cell")
    async def cell(run: int, true: str, predicted: str):
        """The test images in one confusion-matrix cell, most confident first."""
        return await asyncio.to_thread(answer, explored().cell, run, true, predicted)

    @app.get("/v1/explorer/compare")
    async def compare():
        """McNemar's table of the two runs on the same test images."""
        return answer(explored().compare)

    @app.get("/v1/explorer/compare/cell")
    async def compare_cell(which: str):
        """The test images in one cell of McNemar's table."""
        return await asyncio.to_thread(answer, explored().compare_cell, which)

    @app.get("/v1/explorer/replay/{run}")
    async def replay(run: int):
        """The probe panel (predictions, filters, feature maps) as it was after each epoch."""
        return await asyncio.to_thread(answer, explored().replay, run)


EXPLAIN_BODY = {"content": {"application/json": {"schema": {"type": "object", "properties": {
    "image_file": {"type": "string", "description": "base64 of a PNG/JPEG file (e.g. a canvas), converted as letterlab predict converts files"},
    "image": {"type": "array", "description": "a 28x28 array of 0-255"},
    "test_index": {"type": "integer", "description": "an image of the test set"},
    "invert": {"type": "boolean", "default": False}, "runs": {"type": "array", "items": {"type": "integer"}},
    "detail": {"type": "string", "enum": ["top", "full"], "default": "full"}}}}}}


def explain_request(body: bytes, explorer) -> tuple[np.ndarray, str | None, list[int] | None, str]:
    """(image, its label for a test image, run ids, detail) from an explain request's JSON."""
    import base64
    import binascii

    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise RequestError(400, "expected a JSON object")
    unknown = sorted(set(payload) - {"image_file", "image", "test_index", "invert", "runs", "detail"})
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r}")
    given = [key for key in ("image_file", "image", "test_index") if key in payload]
    if len(given) != 1:
        raise RequestError(400, "give exactly one of image_file (base64 of a PNG/JPEG), image (28x28 of 0-255), test_index")
    invert, detail, runs = payload.get("invert", False), payload.get("detail", "full"), payload.get("runs")
    if not isinstance(invert, bool) or detail not in ("top", "full"):
        raise RequestError(422, 'invert must be true or false, detail "top" or "full"')
    if runs is not None and (not isinstance(runs, list) or not all(isinstance(r, int) and not isinstance(r, bool) for r in runs)):
        raise RequestError(422, "runs: a list of run ids")
    label = None
    if given[0] == "image_file":
        text = payload["image_file"]
        if isinstance(text, str) and text.startswith("data:") and "," in text:  # a data URL, as canvas.toDataURL gives
            text = text.split(",", 1)[1]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RequestError(400, "image_file: not base64 (nor a base64 data URL)") from None
        image = decode_image(data, "image_file", invert)
    elif given[0] == "image":
        image = checked_image(payload["image"], "image", invert)
    else:
        index = payload["test_index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise RequestError(422, "test_index: an integer")
        try:
            image, label = explorer.test_image(index)
        except LookupError as error:
            raise RequestError(404, str(error).strip("'\"")) from None
    return image, label, runs, detail


async def read_limited(request, limit: int) -> bytes:
    """The request body; 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared):,} bytes is over the limit of {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def images_from_form(request: Request, body: bytes, max_images: int, invert: bool) -> np.ndarray:
    async def replay():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=max_images + 1, max_fields=max_images + 16,
                                                         max_part_size=len(body) + 1)
    except Exception as error:  # python-multipart's parse errors, and Starlette's limits
        if "Too many files" in str(error) or "Too many fields" in str(error):
            raise RequestError(413, f"more than {max_images} images in one request") from None
        raise RequestError(400, f"not a readable multipart body ({error})") from None
    parts = [part for part in form.getlist("images")]
    if not parts:
        raise RequestError(400, "no files in the form field 'images'")
    if len(parts) > max_images:
        raise RequestError(413, f"{len(parts)} images in one request; at most {max_images}")
    files = []
    for number, part in enumerate(parts):
        name = f"images[{number}]" + (f" ({part.filename})" if isinstance(part, UploadFile) and part.filename else "")
        if not isinstance(part, UploadFile):
            raise RequestError(400, f"{name}: not a file")
        files.append((await part.read(), name))
    # Decoding is CPU work (a large PNG takes a while): off the event loop, so other requests go on.
    return await asyncio.to_thread(lambda: np.stack([decode_image(data, name, invert) for data, name in files]))


def decode_image(data: bytes, name: str, invert: bool) -> np.ndarray:
    """An uploaded file as letterlab's 28x28, converted as `letterlab predict` converts a file."""
    from letterlab.data.image_file import decode_letter

    try:
        return decode_letter(data, name, invert)
    except DataError as error:
        raise RequestError(400, str(error)) from None


def parse_json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"body is not valid JSON ({error})") from None
    except RecursionError:
        raise RequestError(400, "body is not valid JSON (nested too deeply)") from None


def images_from_json(body: bytes, max_images: int, invert: bool, top_k: int) -> tuple[np.ndarray, int]:
    payload = parse_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise RequestError(400, 'expected a JSON object {"images": [28x28 arrays of 0-255], "top_k": 3}')
    unknown = sorted(set(payload) - {"images", "top_k", "invert"})
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r} (known: images, top_k, invert)")
    top_k = payload.get("top_k", top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= TOP_K_MAX:
        raise RequestError(422, f"top_k: must be an integer from 1 to {TOP_K_MAX}, got {top_k!r}")
    invert = payload.get("invert", invert)
    if not isinstance(invert, bool):
        raise RequestError(422, f"invert: must be true or false, got {invert!r}")
    images = payload["images"]
    if not images:
        raise RequestError(400, "images: empty list")
    if len(images) > max_images:
        raise RequestError(413, f"{len(images)} images in one request; at most {max_images}")
    out = np.stack([checked_image(image, f"images[{number}]", invert) for number, image in enumerate(images)])
    return out, top_k


def checked_image(value, name: str, invert: bool) -> np.ndarray:
    """A JSON 28x28 array of integers 0-255 as uint8; 400 naming `name` otherwise."""
    try:
        array = np.asarray(value)
    except ValueError:  # ragged lists
        array = None
    if array is None or array.shape != (28, 28) or array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
        raise RequestError(400, f"{name}: must be a 28x28 array of integers 0-255")
    image = array.astype(np.uint8)
    return 255 - image if invert else image
