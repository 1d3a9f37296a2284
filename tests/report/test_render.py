"""search/report/render.py: report sections written as self-contained HTML (text escaped,
images embedded) and Markdown (text escaped, table cells kept on their row, code fences
longer than any run of backticks inside, images linked)."""

from __future__ import annotations

import base64

from search.report.render import Section, md_cell, md_text, write_report

PNG = b"\x89PNG\r\n\x1a\nnot really an image"
HOSTILE = "<script>alert('x')</script> & |pipe|"


def test_html_escapes_every_text_and_embeds_the_images(tmp_path):
    image = tmp_path / "plot.png"
    image.write_bytes(PNG)
    sections = [Section(HOSTILE, text=HOSTILE, images=[image],
                        table=[["knob", "value"], [HOSTILE, "1"]], preformatted=HOSTILE)]
    html_path, md_path = write_report(sections, tmp_path, title=f"report {HOSTILE}")
    assert (html_path, md_path) == (tmp_path / "index.html", tmp_path / "report.md")
    html = html_path.read_text()
    assert "<script>" not in html
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; |pipe|"
    assert html.count(escaped) == 7  # title, h1, h2, text, table cell, pre, image alt
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in html
    assert "<th>knob</th><th>value</th>" in html and "<td>1</td>" in html


def test_markdown_keeps_names_as_text_and_links_the_images(tmp_path):
    (tmp_path / "img").mkdir()
    image = tmp_path / "img" / "a b.png"
    image.write_bytes(PNG)
    sections = [Section("Study", text="<b>bold</b>", images=[image],
                        table=[["knob", "value"], ["a|b", "line\nbreak"]])]
    write_report(sections, tmp_path, title="t")
    md = (tmp_path / "report.md").read_text().splitlines()
    assert md[:4] == ["# t", "", "## Study", ""]
    assert "&lt;b&gt;bold&lt;/b&gt;" in md
    assert "| knob | value |" in md and "|---|---|" in md
    assert "| a\\|b | line break |" in md  # one row, one cell each
    assert "![Study](<img/a b.png>)" in md


def test_a_code_block_fence_is_longer_than_any_inside_it(tmp_path):
    write_report([Section("Log", preformatted="before\n````\ninside\n")], tmp_path, title="t")
    md = (tmp_path / "report.md").read_text().splitlines()
    start = md.index("`````")
    assert md[start:start + 5] == ["`````", "before", "````", "inside", "`````"]
    write_report([Section("Log", preformatted="plain")], tmp_path, title="t")
    assert "```" in (tmp_path / "report.md").read_text().splitlines()


def test_md_text_and_md_cell_escape_what_would_become_markup():
    assert md_text("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert md_text('"quoted"') == '"quoted"'
    assert md_cell("x|y\r\nz") == "x\\|y  z"
