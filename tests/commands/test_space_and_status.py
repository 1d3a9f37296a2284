"""search/commands/space.py and status.py: the space table marks searched knobs, and `status`
shows a study built here (no training)."""

from __future__ import annotations

from rich.console import Console

from search.commands.space import space_table
from search.commands.status import status
from search.knobs import Bool, Int
from search.space.space import Space
from verb_helpers import args, make_study, text_of


def test_the_space_table_lists_every_knob_and_marks_the_searched_ones():
    space = Space.of({"conv": {"depth": Int(1, 3)}, "bn": {"enabled": Bool()},
                      "training": {"epochs": 2}})
    text = text_of(space_table(space))
    assert f"<memory>: 2 searched knobs (digest {space.digest()})" in text
    depth = next(line for line in text.splitlines() if "│ depth " in line)
    assert "yes" in depth and "number of conv blocks" in depth
    momentum = next(line for line in text.splitlines() if "│ momentum " in line)
    assert "enabled in [True]" in momentum  # active only when bn is on
    epochs = next(line for line in text.splitlines() if "│ epochs " in line)
    assert "yes" not in epochs  # fixed


def test_status_shows_the_trials_and_the_best(tmp_path):
    make_study(tmp_path)
    console = Console(record=True, width=250)
    assert status(args("status", "s", "--studies-dir", tmp_path), console) == 0
    text = console.export_text()
    assert "study 's'" in text and "COMPLETE" in text and "PRUNED" in text
    assert "best val_accuracy 0.9300 (trial 1, epoch 2): conv.depth=2" in text
