"""Render report blocks as Markdown; images are linked by their path relative to report.md."""

from __future__ import annotations

from letterlab.reports.blocks import Block, Bullets, Heading, Image, Paragraph, Table


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(map(_cell, block.header)) + " |", "|" + " --- |" * len(block.header)]
            lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, Image):
            parts.append(f"![{block.alt}]({block.path})")
    return "\n\n".join(parts) + "\n"
