"""search/report/plotting.py: matplotlib on its headless Agg backend, and a figure saved as a
PNG and closed."""

from __future__ import annotations

from search.report.plotting import pyplot, save


def test_pyplot_draws_off_screen():
    plt = pyplot()
    assert plt.get_backend().lower() == "agg"
    assert pyplot() is plt


def test_save_writes_a_png_and_closes_the_figure(tmp_path):
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [2, 0, 1])
    number = figure.number
    path = save(figure, tmp_path / "line.png")
    assert path == tmp_path / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert number not in plt.get_fignums()  # closed: a report of many figures leaks none
    width, height = plt.imread(path).shape[1::-1]
    assert (width, height) == (300, 200)  # 100 dpi
