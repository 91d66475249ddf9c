"""The building blocks of a report, rendered by `markdown.to_markdown` and `html.to_html`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: str  # relative to the output folder
    alt: str


Block = Heading | Paragraph | Bullets | Table | Image
