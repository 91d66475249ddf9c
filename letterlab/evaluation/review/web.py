"""The web front end: a keyboard-driven page served on 127.0.0.1 only, over the same ReviewSession.

GET  /               the page (page.html beside this file)
GET  /api/next       {"item": {"id", "image"} | null, "progress", "summary" (when the queue is done)}
POST /api/answer     {"id", "answer": "A".."J" | "?" | "skip"} -> the same as /api/next, plus "last"
GET  /image/K.png    queue item K enlarged to 280x280 pixels
"""

from __future__ import annotations

import io
import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from letterlab.errors import LetterlabError
from letterlab.evaluation.review.core import ReviewItem, ReviewSession

PAGE = Path(__file__).with_name("page.html")
IMAGE_PIXELS = 280
SKIP = "skip"


class ReviewServer(ThreadingHTTPServer):
    """An HTTP server for one ReviewSession; port 0 picks a free port (see `url`)."""

    daemon_threads = True

    def __init__(self, session: ReviewSession, port: int = 0):
        super().__init__(("127.0.0.1", port), ReviewHandler)
        self.session = session
        self.positions = {item.id: k for k, item in enumerate(session.items)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def state(self) -> dict:
        item = self.session.next_item()
        state = {"item": self.describe(item) if item else None, "progress": self.session.progress(),
                 "classes": list(self.session.classes), "keyed": self.session.keyed}
        if item is None:
            summary = self.session.summary()
            for suspect in summary["likely_label_errors"]:
                suspect["image"] = self.image_url(suspect["id"])
            state["summary"] = summary
        return state

    def describe(self, item: ReviewItem) -> dict:
        return {"id": item.id, "index": item.index, "image": self.image_url(item.id)}

    def image_url(self, item_id: str) -> str:
        return f"/image/{self.positions[item_id]}.png"


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer

    def log_message(self, format, *args):  # keep the terminal quiet
        pass

    def do_GET(self):
        if not self._host_ok():
            return self._send(403, b"forbidden host", "text/plain")
        if self.path == "/":
            return self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
        if self.path == "/api/next":
            return self._json(200, self.server.state())
        match = re.fullmatch(r"/image/(\d+)\.png", self.path)
        if match and int(match[1]) < len(self.server.session.items):
            return self._send(200, png_bytes(self.server.session.items[int(match[1])]), "image/png")
        self._send(404, b"not found", "text/plain")

    def do_POST(self):
        # JSON bodies only: a form on another site cannot send this type without a CORS preflight we never allow.
        if not self._host_ok() or self.headers.get("Content-Type", "") != "application/json":
            return self._send(403, b"forbidden", "text/plain")
        if self.path != "/api/answer":
            return self._send(404, b"not found", "text/plain")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            item = self.server.session.item(str(body["id"]))
            if body["answer"] == SKIP:
                self.server.session.skip(item.id)
            else:
                self.server.session.answer(item.id, str(body["answer"]))
        except (ValueError, KeyError, TypeError, LetterlabError) as error:
            return self._json(400, {"error": str(error)})
        last = {"answer": body["answer"], "label": item.label, "predicted": item.predicted}
        self._json(200, self.server.state() | {"last": last})

    def _host_ok(self) -> bool:
        """Refuse other Host names, so a web page elsewhere cannot reach us by DNS rebinding."""
        port = self.server.server_address[1]
        return self.headers.get("Host") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _json(self, status: int, value: dict) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def png_bytes(item: ReviewItem) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(item.image).resize((IMAGE_PIXELS, IMAGE_PIXELS), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def serve(session: ReviewSession, port: int = 0, announce=print) -> None:
    """Serve until Ctrl-C; answers are saved as they come, so stopping loses nothing."""
    try:
        server = ReviewServer(session, port)
    except OSError as error:
        raise LetterlabError(f"cannot listen on 127.0.0.1:{port} ({error.strerror})") from None
    announce(f"review page: {server.url}  (Ctrl-C to stop)")
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
