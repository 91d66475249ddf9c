"""The review page end to end in headless Chromium: keys pressed in the page reach the answers file.
Skipped when Chromium, chromedriver or selenium is missing."""

import json
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from letterlab import LETTERS
from letterlab.data.dataset import LetterImages
from letterlab.evaluation.mistakes import find_mistakes
from letterlab.evaluation.review.core import ReviewSession, review_items
from letterlab.evaluation.review.web import ReviewServer
from letterlab.runs import REVIEW

pytestmark = pytest.mark.browser


def letter_image(letter: str) -> np.ndarray:
    """A white letter on black, 28x28, drawn with Pillow's built-in font."""
    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).text((14, 14), letter, fill=255, font=ImageFont.load_default(size=24), anchor="mm")
    return np.asarray(image)


def test_keys_pressed_in_the_page_are_saved(browser, tmp_path):
    from selenium.webdriver import ActionChains
    from selenium.webdriver.support.ui import WebDriverWait

    shown = "EJBG"  # what each image shows; labels are E, J, B, C and the model says F, D, D, G
    images = np.stack([letter_image(letter) for letter in shown])
    probs = np.full((4, 10), 0.05)
    probs[np.arange(4), [LETTERS.index(x) for x in "FDDG"]] = [0.6, 0.55, 0.5, 0.45]
    data = LetterImages(images, np.array([LETTERS.index(x) for x in "EJBC"]), "browser test")
    items = review_items(find_mistakes(data, probs))
    session = ReviewSession(items, tmp_path / REVIEW)
    server = ReviewServer(session, port=0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, 10)
        progress = lambda text: wait.until(lambda d: d.find_element("id", "progress").text == text)  # noqa: E731
        progress("0 of 4 answered")
        wait.until(lambda d: d.execute_script("const i = document.getElementById('letter'); return i.complete && i.naturalWidth") == 280)

        browser.save_screenshot(str(tmp_path / "review-question.png"))
        for key, expected in (("e", "1 of 4 answered"), ("?", "2 of 4 answered")):
            ActionChains(browser).send_keys(key).perform()
            progress(expected)
        ActionChains(browser).send_keys(" ").perform()  # skip the third image (B labelled B)
        wait.until(lambda d: d.find_element("id", "last").text == "skipped")
        ActionChains(browser).send_keys("g").perform()
        progress("3 of 4 answered")
        browser.save_screenshot(str(tmp_path / "review-summary.png"))

        answers = json.loads((tmp_path / REVIEW).read_text())["answers"]
        assert {a["index"]: a["answer"] for a in answers.values()} == {0: "E", 1: "?", 3: "G"}
        summary = browser.find_element("id", "summary")
        assert summary.is_displayed() and "Likely label errors: 1" in summary.text
        assert "image 3: labelled C, you and the model say G" in summary.text
        assert Image.open(tmp_path / "review-summary.png").size == Image.open(tmp_path / "review-question.png").size
    finally:
        server.shutdown()
        server.server_close()
