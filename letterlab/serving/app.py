"""The HTTP API (FastAPI): `POST /v1/predict`, `GET /health`, `GET /ready`, `GET /v1/model`, and
FastAPI's OpenAPI page at `/docs`. Every error is JSON `{"error": ...}` with a 4xx status for bad
requests (never a 500); the wire format of /v1/predict is a contract (a change gets a new path).

    {"predictions": [{"top": [{"class": "A", "probability": 0.93}, ...]}, ...]}  # one per image, in order"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from letterlab.serving.batching import MicroBatcher

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


def create_app(load: Callable[[], object], *, max_body_bytes: int = MAX_BODY_BYTES, max_images: int = MAX_IMAGES,
               window: float = 0.0, cors_origins: tuple[str, ...] = ()):
    """The app; `load()` returns the model (a Run or an OnnxModel, via `serving.predictors`) and runs
    on a thread once the server is up, so /health answers at once and /ready once it is loaded."""

    state: dict = {"model": None, "batcher": None, "failed": None}

    def load_in_background(loop) -> None:
        try:
            model = load()
        except Exception as error:  # reported by /ready; the server keeps answering
            state["failed"] = str(error)
            return
        batcher = MicroBatcher(model.probabilities, window=window, max_images=max_images,
                               batch_independent=model.batch_independent)
        loop.call_soon_threadsafe(lambda: (batcher.start(), state.update(model=model, batcher=batcher)))

    @asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=load_in_background, args=(asyncio.get_running_loop(),), daemon=True, name="letterlab-load").start()
        yield
        if state["batcher"] is not None:
            await state["batcher"].stop()

    app = FastAPI(title="letterlab", summary="Letter classification with a trained letterlab model", lifespan=lifespan)
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
        return {"ready": True}

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
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            images = await images_from_form(request, body, max_images, invert)
        elif kind.startswith("application/json"):
            images, top_k = images_from_json(body, max_images, invert, top_k)
        else:
            raise RequestError(415, "send multipart/form-data with files in 'images', or JSON {\"images\": [...]}")
        probabilities = await state["batcher"].predict(images)
        return JSONResponse({"predictions": [top_entries(row, model.classes, top_k) for row in probabilities]})

    return app


def top_entries(row: np.ndarray, classes: list[str], k: int) -> dict:
    best = np.argsort(-row, kind="stable")[:k]
    return {"top": [{"class": classes[i], "probability": float(row[i])} for i in best]}


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
        form = await Request(request.scope, replay).form(max_files=10**6, max_fields=10**6, max_part_size=len(body) + 1)
    except Exception as error:  # python-multipart's parse errors
        raise RequestError(400, f"not a readable multipart body ({error})") from None
    parts = [part for part in form.getlist("images")]
    if not parts:
        raise RequestError(400, "no files in the form field 'images'")
    if len(parts) > max_images:
        raise RequestError(413, f"{len(parts)} images in one request; at most {max_images}")
    images = []
    for number, part in enumerate(parts):
        name = f"images[{number}]" + (f" ({part.filename})" if isinstance(part, UploadFile) and part.filename else "")
        if not isinstance(part, UploadFile):
            raise RequestError(400, f"{name}: not a file")
        images.append(decode_image(await part.read(), name, invert))
    return np.stack(images)


def decode_image(data: bytes, name: str, invert: bool) -> np.ndarray:
    """An uploaded file as letterlab's 28x28, converted as `letterlab predict` converts a file."""
    from PIL import Image, UnidentifiedImageError

    from letterlab.data.image_file import MAX_PIXELS, ImageTooLarge, letter_pixels

    try:
        with Image.open(io.BytesIO(data)) as image:
            return letter_pixels(image, invert)
    except ImageTooLarge as error:
        raise RequestError(400, f"{name}: {error}") from None
    except Image.DecompressionBombError:
        raise RequestError(400, f"{name}: more than the {MAX_PIXELS:,} pixels letterlab decodes (a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise RequestError(400, f"{name}: not an image (not PNG, JPEG or another format Pillow reads)") from None
    except (OSError, ValueError, SyntaxError) as error:  # a truncated or corrupt file
        raise RequestError(400, f"{name}: not a readable image ({error})") from None


def images_from_json(body: bytes, max_images: int, invert: bool, top_k: int) -> tuple[np.ndarray, int]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"body is not valid JSON ({error})") from None
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
    out = np.empty((len(images), 28, 28), dtype=np.uint8)
    for number, image in enumerate(images):
        try:
            array = np.asarray(image)
        except ValueError:
            array = None
        if array is None or array.shape != (28, 28) or array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
            raise RequestError(400, f"images[{number}]: must be a 28x28 array of integers 0-255")
        out[number] = array
    return (255 - out if invert else out), top_k
