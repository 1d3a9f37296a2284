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
    title: str
    text: str = ""
    images: list[Path] = field(default_factory=list)
    table: list[list[str]] | None = None
    preformatted: str = ""


def write_report(sections: list[Section], out: Path, title: str) -> tuple[Path, Path]:
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
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        if section.table:
            head, *rows = section.table
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        if section.preformatted:
            lines += ["```", section.preformatted.rstrip(), "```", ""]
        lines += [f"![{section.title}]({image.relative_to(out)})" for image in section.images] + [""]
    return "\n".join(lines)
