"""The terminal front end: each image drawn with Unicode half blocks ('▀': foreground = upper pixel,
background = lower pixel), so a 28x28 letter fits 28 columns x 14 lines and works over SSH."""

from __future__ import annotations

import os
import string
import sys
from collections.abc import Callable

import numpy as np

from letterlab.evaluation.review.core import ReviewSession, format_summary

RESET = "\x1b[0m"
QUIT = ("\x03", "\x04")  # Ctrl-C, Ctrl-D; and q, unless a class is called q


def help_text(session: ReviewSession) -> str:
    """What to press: a key a class when every name is one character (A-J: 'which letter ... A-J'), else type the name."""
    names = "".join(session.classes)
    letters = session.keyed and names in string.ascii_uppercase
    shown = f"{names[0]}-{names[-1]}" if letters else ", ".join(session.classes[:12]) + (", ..." if len(session.classes) > 12 else "")
    quit_key = "" if session.resolve("q") else ", q = quit"
    if session.keyed:
        return f"which {'letter' if letters else 'class'} do you see? {shown}, ? = unreadable, space/Enter = skip{quit_key}"
    return f"which class do you see? type its name ({shown}) and Enter, ? = unreadable, Enter alone = skip{quit_key}"


def true_colour() -> bool:
    return os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")


def grey_256(value: int) -> int:
    """The nearest of xterm's 256 colours for a grey 0..255: black 16, white 231 or ramp 232..255 (8..238)."""
    if value < 4:
        return 16
    if value > 246:
        return 231
    return 232 + min(23, max(0, round((value - 8) / 10)))


def render_image(image: np.ndarray, truecolour: bool) -> str:
    """ANSI text for a uint8 (H, W) image with H even: one line per two pixel rows."""
    def colour(value: int, layer: int) -> str:  # layer 38 = foreground, 48 = background
        value = int(value)
        return f"\x1b[{layer};2;{value};{value};{value}m" if truecolour else f"\x1b[{layer};5;{grey_256(value)}m"

    lines = []
    for top, bottom in zip(image[0::2], image[1::2]):
        lines.append("".join(colour(t, 38) + colour(b, 48) + "▀" for t, b in zip(top, bottom)) + RESET)
    return "\n".join(lines)


def parse_key(key: str, session: ReviewSession) -> str | None:
    """The answer the key (or typed line) names, '' for skip or anything unknown, None for quit."""
    key = key.strip()
    if key in QUIT or (key.lower() == "q" and session.resolve(key) is None):
        return None
    return session.resolve(key) or ("" if not key else key)


def read_key() -> str:
    """One key press from a terminal (no Enter needed); one line when stdin is not a terminal."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line if line else "q"  # end of input quits
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        return sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_line() -> str:
    """One typed line (class names of more than one character); end of input quits."""
    line = sys.stdin.readline()
    return line if line else "q"


def run_terminal(session: ReviewSession, read: Callable[[], str] | None = None, write: Callable[[str], None] = print,
                 truecolour: bool | None = None) -> dict:
    """Ask about each unanswered image until the queue is done or the person quits; returns the summary.
    `read`: default one key press when each class has a one-character name, else one typed line."""
    truecolour = true_colour() if truecolour is None else truecolour
    read = read or (read_key if session.keyed else read_line)
    write(help_text(session))
    while (item := session.next_item()) is not None:
        progress = session.progress()
        write(f"\n{progress['answered']} of {progress['total']} answered; image {item.index}:")
        write(render_image(item.image, truecolour))
        key = ask(read, write, session)
        if key is None:
            write("quit: your answers are saved; run review again to continue")
            break
        if key == "":
            session.skip(item.id)
        else:
            session.answer(item.id, key)
            write(f"you: {key}   label: {item.label}   model: {item.predicted} ({item.confidence:.2f})")
    summary = session.summary()
    write("\n" + format_summary(summary))
    return summary


def ask(read: Callable[[], str], write: Callable[[str], None], session: ReviewSession) -> str | None:
    """Read keys until one is an answer (a class name, ?), a skip ('') or quit (None)."""
    while True:
        key = parse_key(read(), session)
        if key is None or key == "" or key in session.choices:
            return key
        write(help_text(session))
