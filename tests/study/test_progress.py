"""search/study/progress.py: a trial's parameters in one compact line, the line printed when
a trial ends (its markup escaped), one line per epoch in a log, and the table of the best
trials (no training: callbacks are driven by hand)."""

from __future__ import annotations

import re

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from rich.console import Console

from search.study.progress import EpochLines, LiveProgress, format_params, trial_line, trials_table


def test_format_params_is_compact_and_says_how_many_are_left_out():
    params = {"optimizer.learning_rate": 0.000123456, "conv.depth": 3, "bn.enabled": True,
              "conv.filters.0": 64}
    assert format_params(params) == ("optimizer.learning_rate=0.000123 conv.depth=3 "
                                     "bn.enabled=True conv.filters.0=64")
    assert format_params(params, limit=2) == \
        "optimizer.learning_rate=0.000123 conv.depth=3 (+2 more)"
    assert format_params({}) == ""


def study_with_trials() -> optuna.Study:
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="s",
                                direction="maximize")
    lr = {"lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for value, lr_value in ((0.8, 0.01), (0.95, 0.002), (0.9, 0.05)):
        study.add_trial(optuna.trial.create_trial(
            value=value, params={"lr": lr_value}, distributions=lr,
            user_attrs={"best_epoch": 3, "params_count": 12345, "seconds_per_epoch": 0.5}))
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.PRUNED, user_attrs={"prune_reason": "pruned after epoch 1: [red]x[/]"}))
    return study


def test_a_finished_trials_line_gives_its_score_or_reason_and_the_best():
    study = study_with_trials()
    complete, pruned = study.trials[0], study.trials[3]
    assert trial_line(study, complete) == (
        "[green]trial 0 COMPLETE[/] val_accuracy 0.8000 at epoch 3, 12,345 params, 0.5 s/epoch  "
        "[bold](best 0.9500, trial 1)[/]")
    line = trial_line(study, pruned)
    assert line.startswith("[yellow]trial 3 PRUNED[/] pruned after epoch 1: \\[red]x\\[/]")
    console = Console(record=True, width=200)
    console.print(line, markup=True)
    assert "pruned after epoch 1: [red]x[/]" in console.export_text()  # shown as written


def test_the_table_lists_the_best_trials_first():
    console = Console(record=True, width=200)
    console.print(trials_table(study_with_trials(), top=2))
    text = console.export_text()
    assert "study 's': top 2 trials" in text
    rows = [line for line in text.splitlines() if re.search(r"0\.\d{4}", line)]
    assert [re.search(r"0\.\d{4}", r)[0] for r in rows] == ["0.9500", "0.9000"]
    assert "lr=0.002" in rows[0] and "12,345" in rows[0]


def test_a_log_gets_one_line_per_epoch_with_the_best_so_far_and_an_eta():
    console = Console(record=True, width=200)
    lines = EpochLines(console, "trial 4")
    lines.set_params({"epochs": 5})
    lines.on_train_begin()
    lines.on_epoch_begin(2)  # a resumed trial: two epochs were done before
    lines.on_epoch_end(2, {"val_accuracy": 0.5})
    lines.on_epoch_begin(3)
    lines.on_epoch_end(3, {"val_accuracy": 0.25})
    text = console.export_text().splitlines()
    assert re.fullmatch(r"trial 4 epoch 3/5: val_accuracy 0\.5000 \(best 0\.5000\), "
                        r"\d+\.\d s/epoch, ETA \d+ s", text[0])
    assert text[1].startswith("trial 4 epoch 4/5: val_accuracy 0.2500 (best 0.5000)")


def test_outside_a_terminal_a_trial_gets_epoch_lines_and_a_start_line():
    console = Console(record=True, width=200, force_terminal=False)
    with LiveProgress(console, total=3) as live:
        callbacks = live.keras_callbacks("trial 7", {"conv.depth": 2})
    assert [type(c) for c in callbacks] == [EpochLines]
    assert "trial 7 started: conv.depth=2" in console.export_text()


def test_an_attempt_that_starts_over_is_shown_so_and_takes_no_slot_on_the_trials_bar():
    study = study_with_trials()
    why = "its checkpoint did not load (...); it trains from epoch 1 again"
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={
        "restart_reason": why, "discarded_checkpoint": why,
        "fail_reason": "storage unavailable (...); re-queued"}))  # an earlier attempt's reason
    study.add_trial(optuna.trial.create_trial(  # its clean retry, cut for cost
        state=TrialState.FAIL, user_attrs={"restart_reason": why, "cost_cut": "too costly"}))
    study.add_trial(optuna.trial.create_trial(  # or failing for a reason of its own
        state=TrialState.FAIL, user_attrs={"restart_reason": why, "fail_reason": "out of memory"}))
    attempt, cut, failed = study.trials[4:]
    assert trial_line(study, attempt).startswith(
        "[yellow]trial 4 STARTS OVER[/] its checkpoint did not load")
    assert trial_line(study, cut).startswith("[white]trial 5 CUT FOR COST[/] too costly")
    assert trial_line(study, failed).startswith("[red]trial 6 FAIL[/] out of memory")
    console = Console(record=True, width=200, force_terminal=False)
    with LiveProgress(console, total=4) as live:
        for trial in (study.trials[0], attempt, cut, failed):
            live.trial_finished(study, trial)
        bar = live.progress.tasks[live.study_task]
        assert bar.completed == 3 and bar.total == 4
