"""The review core (queue, answers file, summary), the terminal renderer and the web server's API."""

import io
import json
import re
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from letterlab.data.dataset import LetterImages
from letterlab.errors import LetterlabError
from letterlab.evaluation.mistakes import find_mistakes
from letterlab.evaluation.review.core import ReviewSession, format_summary, image_id, review_items, summarize
from letterlab.evaluation.review.terminal import grey_256, render_image, run_terminal
from letterlab.evaluation.review.web import IMAGE_PIXELS, ReviewServer
from letterlab.runs import REVIEW


def make_items(source="hand", count=4):
    """`count` mistakes: true A, predicted B with falling confidence; image k is filled with grey 10*k."""
    images = np.stack([np.full((28, 28), 10 * k, np.uint8) for k in range(count)])
    probs = np.full((count, 10), 0.0)
    probs[:, 1] = np.linspace(0.9, 0.6, count)
    probs[:, 0] = 1 - probs[:, 1]
    return review_items(find_mistakes(LetterImages(images, np.zeros(count, np.int64), source), probs))


def test_image_id_names_source_index_and_content():
    image = np.zeros((28, 28), np.uint8)
    other = image.copy()
    other[0, 0] = 1
    ids = {image_id("a", 0, image), image_id("b", 0, image), image_id("a", 1, image), image_id("a", 0, other)}
    assert len(ids) == 4 and image_id("a", 0, image) == image_id("a", 0, image.copy())


def test_queue_is_most_confident_first_and_limited():
    items = make_items()
    assert [it.index for it in items] == [0, 1, 2, 3] and items[0].label == "A" and items[0].predicted == "B"
    images = np.zeros((3, 28, 28), np.uint8)
    probs = np.eye(10)[[1, 1, 1]] * 0.5 + np.eye(10)[[0, 0, 0]] * 0.1
    probs[2, 1] = 0.9
    limited = review_items(find_mistakes(LetterImages(images, np.zeros(3, np.int64)), probs), limit=2)
    assert [it.index for it in limited] == [2, 0]


def test_answers_are_saved_at_once_and_a_new_session_resumes(tmp_path):
    items = make_items()
    path = tmp_path / REVIEW
    session = ReviewSession(items, path)
    session.answer(items[0].id, "b")
    assert json.loads(path.read_text())["answers"][items[0].id]["answer"] == "B"
    session.skip(items[1].id)
    assert session.next_item() is items[2]
    with pytest.raises(LetterlabError):
        session.answer(items[2].id, "K")
    with pytest.raises(LetterlabError):
        session.answer("no such id", "A")
    again = ReviewSession(items, path)  # skips are not remembered: the skipped image comes back
    assert again.next_item() is items[1] and again.progress() == {"answered": 1, "total": 4}


def test_answers_for_another_data_source_do_not_mix(tmp_path):
    path = tmp_path / REVIEW
    ReviewSession(make_items("first"), path).answer(make_items("first")[0].id, "A")
    second = ReviewSession(make_items("second"), path)
    assert second.next_item().index == 0 and second.summary()["answered"] == 0
    assert len(json.loads(path.read_text())["answers"]) == 1


def test_summary_counted_by_hand():
    rows = [{"id": str(k), "index": k, "answer": a, "label": "E", "predicted": "F", "confidence": c}
            for k, (a, c) in enumerate([("E", 0.9), ("F", 0.6), ("?", 0.5), ("C", 0.4), ("F", 0.8)])]
    summary = summarize(rows)
    assert (summary["answered"], summary["unreadable"]) == (5, 1)
    assert (summary["agree_label"], summary["agree_model"], summary["agree_neither"]) == (1, 2, 1)
    assert summary["agree_label_rate"] == 0.25 and summary["agree_model_rate"] == 0.5
    assert [s["index"] for s in summary["likely_label_errors"]] == [4, 1]  # most confident first
    assert "image 4: labelled E, you and the model say F" in format_summary(summary)
    assert summarize([])["agree_label_rate"] is None and "n/a" in format_summary(summarize([]))


def test_corrupt_answers_file_is_one_line_error(tmp_path):
    (tmp_path / REVIEW).write_text("{not json")
    with pytest.raises(LetterlabError, match="review.json"):
        ReviewSession(make_items(), tmp_path / REVIEW)


def decode_ansi(text, pattern):
    """Back from half-block text to pixels: (foreground, background) values per cell, stacked as rows."""
    rows = []
    for line in text.split("\n"):
        cells = re.findall(pattern, line)
        rows.append([int(fg) for fg, _ in cells])
        rows.append([int(bg) for _, bg in cells])
    return np.array(rows)


def test_terminal_render_decodes_back_to_the_image():
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    text = render_image(image, truecolour=True)
    assert text.count("\n") == 13 and text.count("▀") == 28 * 28 // 2
    assert np.array_equal(decode_ansi(text, r"\x1b\[38;2;(\d+);\d+;\d+m\x1b\[48;2;(\d+);\d+;\d+m▀"), image)
    codes = decode_ansi(render_image(image, truecolour=False), r"\x1b\[38;5;(\d+)m\x1b\[48;5;(\d+)m▀")
    greys = np.where(codes == 16, 0, np.where(codes == 231, 255, 8 + 10 * (codes - 232)))
    assert np.abs(greys - image.astype(int)).max() <= 8
    assert [grey_256(v) for v in (0, 8, 128, 238, 255)] == [16, 232, 244, 255, 231]


def test_terminal_front_end_with_fake_keys(tmp_path):
    items = make_items()
    session = ReviewSession(items, tmp_path / REVIEW)
    keys, printed = iter(["x", "c", " ", "?", "q"]), []
    summary = run_terminal(session, read=lambda: next(keys), write=printed.append, truecolour=False)
    answers = json.loads((tmp_path / REVIEW).read_text())["answers"]
    assert {answers[items[0].id]["answer"], answers[items[2].id]["answer"]} == {"C", "?"} and items[1].id not in answers
    assert summary["answered"] == 2 and any("quit" in line for line in printed)
    assert sum("which letter" in line for line in printed) == 2  # once at the start, once after 'x'


@pytest.fixture
def server(tmp_path):
    session = ReviewSession(make_items(count=2), tmp_path / REVIEW)
    server = ReviewServer(session, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if headers is None else headers
    with urllib.request.urlopen(urllib.request.Request(server.url.rstrip("/") + path, data, headers), timeout=5) as response:
        return response.read()


def test_web_api_serves_page_image_and_records_answers(server):
    assert server.server_address[0] == "127.0.0.1" and server.server_address[1] > 0
    assert b"Which letter do you see?" in request(server, "/")
    state = json.loads(request(server, "/api/next"))
    first = state["item"]
    assert state["progress"] == {"answered": 0, "total": 2} and "summary" not in state
    png = Image.open(io.BytesIO(request(server, first["image"])))
    assert png.size == (IMAGE_PIXELS, IMAGE_PIXELS) and np.asarray(png).max() == 0  # item 0 is all black
    state = json.loads(request(server, "/api/answer", {"id": first["id"], "answer": "b"}))
    assert state["last"] == {"answer": "b", "label": "A", "predicted": "B"}
    state = json.loads(request(server, "/api/answer", {"id": state["item"]["id"], "answer": "?"}))
    assert state["item"] is None and state["summary"]["likely_label_errors"][0]["image"] == "/image/0.png"
    answers = json.loads(server.session.path.read_text())["answers"]
    assert sorted(a["answer"] for a in answers.values()) == ["?", "B"]


@pytest.mark.parametrize("path, body, headers, status", [
    ("/api/next", None, {"Host": "evil.example:80"}, 403),  # DNS rebinding
    ("/api/answer", {"id": "x", "answer": "A"}, {"Content-Type": "text/plain"}, 403),  # cross-site form
    ("/api/answer", {"id": "x", "answer": "A"}, None, 400),
    ("/image/9.png", None, None, 404),
])
def test_web_api_refuses(server, path, body, headers, status):
    with pytest.raises(urllib.error.HTTPError) as error:
        request(server, path, body, headers)
    assert error.value.code == status
