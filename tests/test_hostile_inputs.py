"""Hostile and odd inputs: huge numbers, YAML bombs, odd text, markup and HTML in names.
Each gets one clear message (exit 2), never a traceback. Tampered stored bookkeeping is in
tests/test_hostile_stored.py.

Rows reuse ``run_cli`` from tests/test_bad_input.py: exit 2, no traceback, no password, and
nothing written outside ``studies/NAME/``.
"""

from __future__ import annotations

import pytest

from search.commands.cli import main
from search.errors import MAX_PROBLEM_CHARS, SearchError, shown
from test_bad_input import OK_SPACE, run_cli

HUGE = "1" + "0" * 400  # an int no float can hold
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))
DEEP = "[" * 3000 + "]" * 3000
NESTED_50 = "x: " + "[" * 50 + "]" * 50

# -- numbers beyond any float, on every way in ---------------------------------------------------

NUMBER_FLAGS = [
    (["--trials", HUGE], "'trials' must be an int in [1, 1000000000]"),
    (["--trials", "1" + "0" * 20], "'trials' must be an int in [1, 1000000000]"),
    (["--timeout", "1" + "0" * 20], "a time limit must be at most 366 days"),
    (["--timeout", HUGE], "a time limit must be at most 366 days"),
    (["--timeout", "9" * 30 + "h"], "a time limit must be at most 366 days"),
    (["--timeout", "367d"], "'timeout' must be a duration > 0"),
    (["--timeout", "nan"], "'timeout' must be a duration > 0"),
    (["--timeout=-5"], "'timeout' must be a duration > 0"),
    (["--limit", HUGE], "'limit' must be an int in [20, 1000000000]"),
    (["--max-params", HUGE], "'max_params' must be an int in [1, 1000000000000]"),
    (["--max-failures", HUGE], "'max_failures' must be an int in [0, 1000000000]"),
    (["--seed", HUGE], "'seed' must be an int in [0, 2147483647]"),
    (["--seed", str(2**31)], "'seed' must be an int in [0, 2147483647]; got 2147483648"),
    (["--epochs", HUGE], "'epochs' must be an int in [1, 1000]"),
    (["--val-fraction", HUGE], "'val_fraction' must be a float in (0, 1)"),
    (["--val-fraction", "1e400"], "'val_fraction' must be a float in (0, 1); got inf"),
    (["--val-fraction=-1e-400"], "'val_fraction' must be a float in (0, 1)"),
    (["--processes", HUGE], "'processes' must be an int in [1, 256]"),
    (["--steps-per-execution", HUGE], "'steps_per_execution' must be an int in [1, 10000]"),
]


@pytest.mark.parametrize("flags, message", NUMBER_FLAGS)
def test_numbers_too_large_on_the_command_line(tmp_path, capsys, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    err = run_cli(["run", "ok.py", *flags], capsys, tmp_path)
    assert message in err and len(err) < 2000


NUMBER_SPACES = [
    f"Float(1e-4, {HUGE}, log=True)", f"Float(-{HUGE}, 0.1)", f"Float(0.1, 0.2, step={HUGE})",
    f"Int(1, {HUGE})", f"Int(-{HUGE}, 3)", f"Choice(0.001, {HUGE})", "Float(1e-4, float('inf'))",
    "Float(float('-inf'), 0.1)", "Choice(float('nan'), 0.1)",
]


@pytest.mark.parametrize("knob", NUMBER_SPACES)
def test_numbers_too_large_in_a_space_file(tmp_path, capsys, monkeypatch, knob):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text("from search.knobs import Choice, Float, Int\n"
                                   f"SPACE = {{'optimizer': {{'learning_rate': {knob}}}}}\n")
    err = run_cli(["space", "s.py"], capsys, tmp_path)
    assert "s.py: 'optimizer.learning_rate'" in err and len(err) < 2000


NUMBER_CONFIGS = [
    (f"params: {{optimizer: {{learning_rate: {HUGE}}}}}", "'params.optimizer.learning_rate' must be a float"),
    (f"params: {{training: {{batch_size: {HUGE}}}}}", "'params.training.batch_size' must be an int in [1, 65536]"),
    (f"params: {{training: {{epochs: {HUGE}}}}}", "'params.training.epochs' must be an int in [1, 1000]"),
    (f"params: {{dropout: {{enabled: true, conv_rate: {HUGE}}}}}", "'params.dropout.conv_rate' must be a float"),
    (f"params: {{conv: {{filters: [{HUGE}]}}}}", "'params.conv.filters' must be a list of an int"),
    (f"params: {{}}\nseed: {HUGE}", "'seed' must be an int in [0, 2147483647]"),
    ("params: {}\nseed: -1", "'seed' must be an int in [0, 2147483647]; got -1."),
    ("params: {}\nseed: -2147483649", "'seed' must be an int in [0, 2147483647]"),
    (f"params: {{}}\ndata: {{limit: {HUGE}}}", "'data.limit' must be an int in [20, 1000000000]"),
    (f"params: {{}}\ndata: {{val_fraction: {HUGE}}}", "'data.val_fraction' must be a float in (0, 1)"),
    (f"params: {{}}\ndata: {{seed: {HUGE}}}", "'data.seed' must be an int in [0, 2147483647]"),
]


@pytest.mark.parametrize("text, message", NUMBER_CONFIGS)
def test_numbers_too_large_in_a_config(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    err = run_cli(["train", "c.yaml"], capsys, tmp_path)
    assert message in err and "c.yaml" in err and len(err) < 2000


NUMBER_STUDIES = [
    (f"timeout: {HUGE}", "a time limit must be at most 366 days"),
    ("timeout: 100000000000000000000", "a time limit must be at most 366 days"),
    ("timeout: .inf", "a time limit must be at most 366 days"),
    (f"trials: {HUGE}", "'trials' must be an int in [1, 1000000000]"),
    (f"seed: {HUGE}", "'seed' must be an int in [0, 2147483647]"),
    (f"max_params: {HUGE}", "'max_params' must be an int in [1, 1000000000000]"),
    (f"epochs: {HUGE}", "'epochs' must be an int in [1, 1000]"),
]


@pytest.mark.parametrize("text, message", NUMBER_STUDIES)
def test_numbers_too_large_in_a_study_file(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    (tmp_path / "study.yaml").write_text(f"space: ok.py\n{text}\n")
    err = run_cli(["run", "study.yaml"], capsys, tmp_path)
    assert message in err and "study.yaml" in err and len(err) < 2000


ABLATION = "study: lad\nreference: {conv: {depth: 2}}\n"
NUMBER_ABLATIONS = [
    (f"alpha: {HUGE}", "'alpha' must be a float in (0, 0.5]"),
    (f"alpha: -{HUGE}", "'alpha' must be a float in (0, 0.5]"),
    (f"seeds: {HUGE}", "'seeds' must be an integer in [2, 100] or 'auto'"),
    (f"path_seeds: {HUGE}", "'path_seeds' must be an int in [1, 100]"),
    (f"min_effect: {HUGE}", "'min_effect' must be a float in [0, 100]"),
    (f"max_runs: {HUGE}", "'max_runs' must be an int in [1, 1000000000]"),
    (f"max_time: {HUGE}", "a time limit must be at most 366 days"),
    (f"interactions: {HUGE}", "'interactions' must be an int in [0, 8]"),
]


@pytest.mark.parametrize("text, message", NUMBER_ABLATIONS)
def test_numbers_too_large_in_an_ablation_file(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ab.yaml").write_text(ABLATION + text + "\n")
    err = run_cli(["ablate", "ab.yaml"], capsys, tmp_path)
    assert message in err and len(err) < 2000


# -- YAML that is valid but hostile ---------------------------------------------------------------

YAML_CASES = [
    (BOMB, "anchors and aliases expand to more than 100,000 values"),
    (DEEP, "nested too deeply to read"),
    ("params: " + DEEP, "nested too deeply to read"),
    (NESTED_50, "nested deeper than 40 levels"),
    ("params: {conv: {depth: " + "[" * 45 + "]" * 45 + "}}", "nested deeper than 40 levels"),
    ("params: {conv: {depth: '" + "x" * 100_000 + "'}}", "'params.conv.depth' must be an int in [1, 8]"),
    ("params: {conv: {depth: [" + ", ".join(["7"] * 50_000) + "]}}", "'params.conv.depth' must be an int"),
    ("params: {" + ", ".join(f"c{i}: {{}}" for i in range(500)) + "}", "more problems of the same input"),
    ("params: {}\nextra" + "x" * 5000 + ": 1", "not valid YAML"),
    ("params: {}\nextra" + "x" * 900 + ": 1", "unknown top-level key"),
    ("params: {}\n\tseed: 1", "not valid YAML"),
    ("params: !!binary aGVsbG8=", "'params' must be a mapping of components"),
    ("params: !!python/name:os.system", "not valid YAML"),
    ("params: !!set {a, b}", "'params' must be a mapping of components"),
    ("? [a, b]\n: 1", "not valid YAML (found unhashable key)"),
]


@pytest.mark.parametrize("text, message", YAML_CASES, ids=range(len(YAML_CASES)))
def test_hostile_yaml_in_a_config(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    err = run_cli(["train", "c.yaml"], capsys, tmp_path)
    assert message in err and "c.yaml" in err
    assert len(err) < 30 * MAX_PROBLEM_CHARS  # bounded, whatever the file quotes


@pytest.mark.parametrize("text, message", YAML_CASES[:5], ids=range(5))
@pytest.mark.parametrize("command, file", [(["run"], "study.yaml"), (["ablate"], "ab.yaml"),
                                           (["run", "ok.py", "--warm-start"], "w.yaml")])
def test_hostile_yaml_in_every_yaml_file(tmp_path, capsys, monkeypatch, text, message, command, file):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    (tmp_path / file).write_text(text)
    err = run_cli([*command, file], capsys, tmp_path)
    assert message in err and file in err and len(err) < 2000


TEXT_FILES = [
    (b"params: {}\n# \xff\xfe\n", "not UTF-8 text (byte 0xff at offset 13)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text"),
    ("params: {}\n# caf\u00e9 \u2603\n".encode(), "c.yaml"),  # UTF-8 is fine: then seed etc.
]


@pytest.mark.parametrize("content, message", TEXT_FILES[:2])
def test_a_config_that_is_not_utf8_text(tmp_path, capsys, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_bytes(content)
    assert message in run_cli(["train", "c.yaml"], capsys, tmp_path)


@pytest.mark.parametrize("content", [b"SPACE = {}\n# \xff\n", b"\x00\x01\x02", b"\xef\xbb\xbf\xff"])
def test_a_space_file_that_is_not_utf8_text(tmp_path, capsys, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_bytes(content)
    err = run_cli(["space", "s.py"], capsys, tmp_path)
    assert "s.py" in err and ("not UTF-8 text" in err or "null bytes" in err)


def test_a_directory_given_as_a_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").mkdir()
    assert "c.yaml: file not found" in run_cli(["train", "c.yaml"], capsys, tmp_path)


# -- a config's result section and a warm-start file's keys --------------------------------------

RESULT_CASES = [
    ("result: [1]", "'result' must be a mapping of the trial's figures"),
    ("result: high", "'result' must be a mapping of the trial's figures"),
    ("result: {val_accuracy: high}", "'result.val_accuracy' must be a number in [0, 1]; got 'high'"),
    ("result: {val_accuracy: 1.5}", "'result.val_accuracy' must be a number in [0, 1]; got 1.5"),
    ("result: {val_accuracy: .nan}", "'result.val_accuracy' must be a number in [0, 1]; got nan"),
    ("result: {val_accuracy: true}", "'result.val_accuracy' must be a number in [0, 1]; got True"),
    ("result: {best_epoch: 0}", "'result.best_epoch' must be an int in [1, 1000]; got 0"),
    ("result: {best_epoch: 2.5}", "'result.best_epoch' must be an int in [1, 1000]; got 2.5"),
    ("result: {best_epoch: '3'}", "'result.best_epoch' must be an int in [1, 1000]; got '3'"),
    (f"result: {{best_epoch: {HUGE}}}", "'result.best_epoch' must be an int in [1, 1000]"),
    ("result: {epochs_trained: -1}", "'result.epochs_trained' must be an int in [0, 1000]"),
    ("result: {params_count: many}", "'result.params_count' must be an int >= 0"),
    ("result: {seconds_per_epoch: -3}", "'result.seconds_per_epoch' must be a number >= 0"),
    ("result: {trial: [1]}", "'result.trial' must be a trial number or id"),
    ("result: {keras_backend: 3}", "'result.keras_backend' must be a string"),
    ("result: {val_acc: 0.9}", "unknown result key 'val_acc' (did you mean 'val_accuracy'?)"),
]


@pytest.mark.parametrize("text, message", RESULT_CASES)
@pytest.mark.parametrize("refit", [False, True])
def test_a_bad_result_section_is_refused_before_training(tmp_path, capsys, monkeypatch, text,
                                                        message, refit):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("params: {conv: {depth: 1, filters: [8]}}\n"
                                     "data: {name: digits}\n" + text + "\n")
    err = run_cli(["train", "c.yaml", *(["--refit"] if refit else [])], capsys, tmp_path)
    assert message in err and "c.yaml" in err


WARM_FILES = [
    ("params: {conv: {depth: 1}}\nparams_extra: 1", "unknown top-level key 'params_extra'"),
    ("params: {conv: {depth: 1}}\nresult: [1]", "'result' must be a mapping"),
    ("prams: {conv: {depth: 1}}", "unknown top-level key 'prams' (did you mean 'params'?)"),
    ("params: [1]", "a warm-start file is a config YAML with a 'params' mapping"),
    (BOMB, "anchors and aliases expand"),
]


@pytest.mark.parametrize("text, message", WARM_FILES)
def test_a_bad_warm_start_file_is_refused(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    (tmp_path / "w.yaml").write_text(text)
    err = run_cli(["run", "ok.py", "--warm-start", "w.yaml"], capsys, tmp_path)
    assert message in err and "w.yaml" in err


# -- names and paths printed as text, never as markup -------------------------------------------

@pytest.mark.parametrize("name", ["odd[/]name.py", "[bold]x.py", "a[red]b[/red].py", "x[/bold].py"])
def test_a_space_file_name_with_markup_is_printed_as_it_is(tmp_path, capsys, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(OK_SPACE)
    assert main(["space", name]) == 0
    out = capsys.readouterr().out
    assert name in " ".join(out.split()).replace(" ", "") or name.replace(".py", "") in out


@pytest.mark.slow
def test_markup_in_class_names_and_paths_trains_refits_and_shows_status(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ",".join(f"c[/]{i}" for i in range(10))
    (tmp_path / "ok.py").write_text(OK_SPACE)
    root = "odd[/]studies"
    assert main(["run", "ok.py", "--study", "m", "--trials", "1", "--class-names", names,
                 "--studies-dir", root, "--limit", "200"]) == 0
    assert main(["status", "m", "--studies-dir", root]) == 0
    assert main(["train", f"{root}/m/best.yaml", "--refit"]) == 0
    captured = capsys.readouterr()
    assert "c[/]3" in captured.out and "Traceback" not in captured.err


def test_report_markdown_escapes_html_from_names(tmp_path):
    from search.report.render import Section, write_report

    _, md = write_report([Section("<script>alert(1)</script>", text="a <img src=x onerror=y> b",
                                  table=[["class", "f1"], ["<b>|x", "0.9"]],
                                  preformatted="```\n<i>")], tmp_path, "T <x>")
    text = md.read_text()
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "&lt;b&gt;\\|x" in text and "````" in text


# -- messages stay readable whatever they quote ---------------------------------------------------

def test_a_message_never_quotes_megabytes():
    error = SearchError(["x: " + "y" * 10**6, *(f"p{i}" for i in range(1000))])
    assert len(error.render()) < 50 * MAX_PROBLEM_CHARS
    assert "more problems of the same input" in error.render()
    assert shown(10**5000) == "<an int of about 5000 digits>"
    assert len(shown([[1] * 10**4] * 10**4)) < 300
