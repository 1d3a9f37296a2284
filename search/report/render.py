"""Report pages as sections, rendered twice: self-contained HTML (images embedded, opens
offline) and Markdown (linking the same PNG files)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Section", "write_report"]


@dataclass
class Section:
    """One report section: a title, then optional text, images, table (first row: header)
    and preformatted text."""

    title: str
    text: str = ""
    images: list[Path] = field(default_factory=list)
    table: list[list[str]] | None = None
    preformatted: str = ""


def write_report(sections: list[Section], out: Path, title: str) -> tuple[Path, Path]:
    """Write index.html and report.md for ``sections`` into ``out``; return both paths."""
    (out / "index.html").write_text(_html(sections, title))
    (out / "report.md").write_text(_markdown(sections, title, out))
    return out / "index.html", out / "report.md"


def _html(sections: list[Section], title: str) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            body.append(f"<p>{html.escape(section.text)}</p>")
        if section.table:
            head, *rows = section.table
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                                  + "</tr>" for row in rows) + "</table>")
        if section.preformatted:
            body.append(f"<pre>{html.escape(section.preformatted)}</pre>")
        for image in section.images:
            encoded = base64.b64encode(image.read_bytes()).decode()
            body.append(f'<img alt="{html.escape(section.title)}" src="data:image/png;base64,{encoded}">')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%;"
             "display:block;margin:8px 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 8px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def _markdown(sections: list[Section], title: str, out: Path) -> str:
    """Names and values from a study are text, never markup: HTML is escaped as in index.html,
    table cells keep their row, and a code block's fence is longer than any it contains."""
    lines = [f"# {md_text(title)}", ""]
    for section in sections:
        lines += [f"## {md_text(section.title)}", ""]
        if section.text:
            lines += [md_text(section.text), ""]
        if section.table:
            head, *rows = section.table
            lines += ["| " + " | ".join(map(md_cell, head)) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(map(md_cell, r)) + " |" for r in rows] + [""]
        if section.preformatted:
            fence = "`" * max(3, 1 + _longest_run(section.preformatted, "`"))
            lines += [fence, section.preformatted.rstrip(), fence, ""]
        lines += [f"![{md_cell(section.title)}](<{image.relative_to(out)}>)"
                  for image in section.images] + [""]
    return "\n".join(lines)


def md_text(text: str) -> str:
    """Plain text for Markdown: ``<``, ``>`` and ``&`` as HTML entities."""
    return html.escape(str(text), quote=False)


def md_cell(text: str) -> str:
    """Plain text for one Markdown table cell: also no ``|`` or line break that ends it."""
    return md_text(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _longest_run(text: str, char: str) -> int:
    longest = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        longest = max(longest, run)
    return longest
