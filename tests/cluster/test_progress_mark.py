"""search/cluster/progress_mark.py: the file a Slurm task reads to tell a start that made
progress from one that did not."""

from __future__ import annotations

from search.cluster.progress_mark import PROGRESS_ENV, mark_progress


def test_the_mark_is_made_where_the_task_says_and_nowhere_without_it(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    mark_progress()
    assert not any(tmp_path.iterdir())
    mark = tmp_path / "slurm" / "progress" / "12_0"
    monkeypatch.setenv(PROGRESS_ENV, str(mark))
    mark_progress()
    assert mark.is_file()


def test_a_mark_the_file_system_refuses_does_not_stop_training(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path / "a-file" / "12_0"))
    mark_progress()  # no error: the task counts this start as one without progress
    assert (tmp_path / "a-file").read_text() == ""
