"""Every malformed input gets one clear message and exit status 2: never a traceback.

Each row: the input, and a fragment the message must contain. Every row also checks
that nothing was written outside the study's folder and that no password leaked.
Data files and values read back from a study's storage: tests/test_bad_stored_input.py;
command lines: tests/test_bad_command_lines.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from search.commands.cli import main

OK_SPACE = ("SPACE = {'conv': {'depth': 1, 'filters': 8}, 'training': {'epochs': 1}}\n"
            "DATA = {'name': 'digits'}\n")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def run_cli(argv, capsys, root: Path) -> str:
    """Run the CLI in-process; assert exit 2, no traceback, no password in stdout, stderr or any
    file written, and nothing written outside studies/NAME/."""
    before = _files(root)
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2, err
    assert "Traceback" not in err and "hunter2" not in err + out
    for new in _files(root) - before:
        parts = new.relative_to(root).parts
        assert parts[0] == "studies" and len(parts) >= 3, f"wrote {new}"
        assert b"hunter2" not in new.read_bytes(), f"{new} holds the password"
    return " ".join(err.split())


SPACE_CASES = [
    ("SPACE = {", "s.py:1: syntax error"),
    ("SPACE = {'conv': {'depht': 2}}", "unknown knob 'conv.depht' (did you mean 'depth'?)"),
    ("SPACE = {'convolution': {}}", "unknown component 'convolution'; allowed: backbone, conv, bn"),
    ("SPACE = {'dropuot': {}}", "unknown component 'dropuot' (did you mean 'dropout'?)"),
    ("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(5, 1)}}", "low (5) must be <= high (1)"),
    ("from search.knobs import Float\nSPACE = {'optimizer': {'learning_rate': Float(0, 1, log=True)}}",
     "log=True needs low > 0; got low=0"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice()}}", "Choice() needs at least one value"),
    ("SPACE = [1]", "SPACE must be a dict of components; got list"),
    ("X = 1", "defines no SPACE"),
    ("SPACE = {'conv': 3}", "'conv' must be a mapping of knobs; got 3"),
    ("from search.knobs import Float\nSPACE = {'dropout': {'conv_rate': Float(0.1, 1.5)}}",
     "'dropout.conv_rate' must be a float in [0, 1); got 1.5."),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice(3, 4)}}",
     "'conv.kernel' must be one of 1, 3, 5, 7; got 4."),
    ("SPACE = {'conv': {'padding': 'full'}}", "'conv.padding' must be one of 'same', 'valid'; got 'full'."),
    ("SPACE = {'conv': {'padding': 'vaild'}}", "got 'vaild' (did you mean 'valid'?)"),
    ("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(1.5, 3)}}", "bound low=1.5 must be an int"),
    ("from search.knobs import Float\nSPACE = {'zoom': {'factor': Float('a', 0.2)}}",
     "bound low='a' must be a finite number"),
    ("from search.knobs import Float\nSPACE = {'zoom': {'factor': Float(0.1, float('nan'))}}",
     "bound high=nan must be a finite number"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice(3, 3)}}", "choices must not repeat"),
    ("from search.knobs import Choice\nSPACE = {'conv': {'kernel': Choice([3], [5])}}",
     "choices must be numbers, strings, booleans or None"),
    ("raise RuntimeError('no GPU here')", "s.py:1: RuntimeError: no GPU here"),
    ("SPACE = {}\nDATA = [1]", "DATA must be a dict of data options; got list"),
    ("from search.knobs import Float\nSPACE = {'conv': {'depth': Float(1, 3)}}",
     "'conv.depth' must be an int in [1, 8]; got float [1, 3] (use Int(...))"),
    ("from search.knobs import Int\nSPACE = {'conv': {'padding': Int(1, 3)}}",
     "'conv.padding' must be one of 'same', 'valid'; use Choice(...) or a plain value, not Int(...)"),
    ("SPACE = {'bn': {'enabled': 1}}", "'bn.enabled' must be a bool; got 1"),
    ("SPACE = {'conv': {'filters': [32, 0]}}", "'conv.filters' must be an int in [1, 2048]; got 0"),
    ("SPACE = {'conv': {'filters': []}}", "'conv.filters' must be an int in [1, 2048]; got None"),
    ("SPACE = {'training': {'epochs': 0}}", "'training.epochs' must be an int in [1, 1000]; got 0"),
    ("SPACE = {'training': {'batch_size': 1.5}}", "'training.batch_size' must be an int in [1, 65536]; got 1.5"),
    ("from search.knobs import Int\nSPACE = {'head': {'layers': Int(0, 9)}}", "'head.layers' must be an int in [0, 4]; got 9"),
    ("from search.knobs import Int\nSPACE = {'head': {'layers': Int(0, 3, step=0)}}", "step must be >= 1; got 0"),
    ("from search.knobs import Int\nSPACE = {'conv': {'depth': Int(1, 4, log=True, step=2)}}",
     "log=True cannot be combined with step != 1"),
    ("from search.knobs import Float\nSPACE = {'zoom': {'factor': Float(0.1, 0.2, step=-1)}}",
     "step must be a positive number; got -1"),
    ("SPACE = {'optimizer': {'name': 'adagrad'}}", "'optimizer.name' must be one of 'adam', 'adamax'"),
    ("SPACE = {'training': {'precision': 'float16'}}", "'training.precision' must be one of 'float32'"),
    ("SPACE = {'schedule': {'name': 'cosine', 'min_ratio': 2.0}}", "'schedule.min_ratio' must be a float in [0, 1]; got 2.0"),
    ("SPACE = {'rotation': {'degrees': -5.0}}", "'rotation.degrees' must be a float in [0, 180]; got -5.0"),
    ("SPACE = {1: {}}", "unknown component '1'"),
    ("SPACE = {'optimizer': {'momentum': 0.5}}", "s.py: 'optimizer.momentum' has no effect: it "
     "applies only when optimizer.name in ['sgd', 'rmsprop'], and optimizer.name is 'adam' (its "
     "baseline); remove it or change that switch."),
    ("from search.knobs import Int\nSPACE = {'backbone': {'name': 'vgg16'}, 'conv': {'depth': "
     "Int(1, 3)}}", "'conv.depth' has no effect: it applies only when backbone.name in ['none'], "
     "and backbone.name is 'vgg16'"),
    ("SPACE = {'backbone': {'lr_ratio': 0.1}}", "'backbone.lr_ratio' has no effect: it applies "
     "only when backbone.trainable_blocks >= 1, and backbone.trainable_blocks is itself inactive, "
     "as backbone.name is 'none' (its baseline)"),
    ("SPACE = {'optimizer': {'name': 'sgdd', 'momentum': 0.5}}", "got 'sgdd' (did you mean 'sgd'?)."),
]


@pytest.mark.parametrize("text, message", SPACE_CASES)
def test_bad_space_files(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.py").write_text(text)
    assert message in run_cli(["space", "s.py"], capsys, tmp_path)


CONFIG_CASES = [
    ("params: {}\nextra: 1", "unknown top-level key 'extra'"),
    ("params: {conv: {depth: 'two'}}", "'params.conv.depth' must be an int in [1, 8]; got 'two'."),
    ("params: {conv: {depth: [}", "not valid YAML"),
    ("!!python/object/apply:os.system ['echo hacked']", "not valid YAML"),
    ("- 1\n- 2", "expected a YAML mapping at the top; got list"),
    ("params: {bn: {enable: true}}", "unknown knob 'params.bn.enable'"),
    ("params: {batchnorm: {}}", "unknown component 'params.batchnorm'"),
    ("params: {}\nseed: x", "'seed' must be an int in [0, 2147483647]; got 'x'."),
    ("params: {}\ndata: {name: imagenet}", "'data.name' must be one of 'fashion_mnist', 'mnist'"),
    ("params: {}\ndata: {name: fashion}", "(did you mean 'fashion_mnist'?)"),
    ("params: {}\ndata: {colour: true}", "unknown data key 'colour'"),
    ("params: 3", "'params' must be a mapping of components; got 3."),
    ("params: {conv: {filters: 32}}", "'params.conv.filters' must be a list of an int"),
    ("", "expected a YAML mapping at the top; got NoneType"),
    ("params: {}\ndata: {limit: 3}", "'data.limit' must be an int in [20, 1000000000]; got 3."),
    ("params: {}\ndata: {limit: true}", "'data.limit' must be an int in [20, 1000000000]; got True."),
    ("params: {}\ndata: {classes: [1, 1]}", "'data.classes' must be a preset"),
    ("params: {}\ndata: {classes: fashion4}", "'data.classes' must be a preset"),
    ("params: {}\ndata: {classes: [[0, 1], []]}", "'data.classes' must be a preset"),
    ("params: {}\ndata: {classes: [-1, 2]}", "'data.classes' must be a preset"),
    ("params: {}\ndata: fashion", "'data' must be a mapping; got str."),
    ("params: {}\ndata: {val_fraction: 1.0}", "'data.val_fraction' must be a float in (0, 1); got 1.0."),
    ("params: {}\ndata: {val_fraction: .nan}", "'data.val_fraction' must be a float in (0, 1); got nan."),
    ("params: {}\ndata: {normalize: minmax}", "'data.normalize' must be one of 'scale', 'zscore'"),
    ("params: {}\ndata: {seed: -3}", "'data.seed' must be an int in [0, 2147483647]; got -3."),
    ("params: {}\ndata: {class_names: [a, 3]}", "'data.class_names' must be a list of non-empty strings"),
    ("params: {}\ndata: {path: 7}", "'data.path' must be a file or folder path; got 7."),
    ("params: {training: {epochs: .inf}}", "'params.training.epochs' must be an int in [1, 1000]; got inf."),
    ("params: {optimizer: {learning_rate: -0.1}}", "'params.optimizer.learning_rate' must be a float in (0, 10]"),
    ("params: {conv: {kernel: 4}}", "'params.conv.kernel' must be one of 1, 3, 5, 7; got 4."),
    ("params: {dropout: [0.5]}", "'params.dropout' must be a mapping of knobs; got [0.5]."),
    ("params: {conv: {depth: 2}}\nseed: true", "'seed' must be an int in [0, 2147483647]; got True."),
    ("params: {dropout: {enabled: false, conv_rate: 0.3}}", "c.yaml: 'params.dropout.conv_rate' "
     "has no effect: it applies only when dropout.enabled in [True], and dropout.enabled is "
     "False; remove it or change that switch."),
    ("params: {backbone: {name: vgg16, weights: none, lr_ratio: 0.1}}", "'params.backbone."
     "lr_ratio' has no effect: it applies only when backbone.trainable_blocks >= 1, and "
     "backbone.trainable_blocks is 0"),
]


@pytest.mark.parametrize("text, message", CONFIG_CASES)
def test_bad_config_yaml(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    err = run_cli(["train", "c.yaml"], capsys, tmp_path)
    assert message in err and "c.yaml" in err


STUDY_CASES = [
    ("trails: 3", "unknown key 'trails' (did you mean 'trials'?)"),
    ("trials: 3", "a study definition needs 'space: spaces/FILE.py'"),
    ("trials: 0", "'trials' must be an int in [1, 1000000000]; got 0."),
    ("trials: many", "'trials' must be an int in [1, 1000000000]; got 'many'."),
    ("trials: 2.5", "'trials' must be an int in [1, 1000000000]; got 2.5."),
    ("trials: true", "'trials' must be an int in [1, 1000000000]; got True."),
    ("timeout: 0", "'timeout' must be a duration > 0"),
    ("timeout: -5", "a time limit must be more than zero"),
    ("timeout: soon", "'timeout' must be a duration > 0 (seconds, or text such as 90s, 30m, 8h); got 'soon'"),
    ("timeout: [1]", "'timeout' must be a duration > 0"),
    ("timeout: 0s", "a time limit must be more than zero"),
    ("sampler: bayes", "'sampler' must be one of 'tpe', 'tpe-local', 'random', 'cmaes', 'gp', 'grid'; got 'bayes'"),
    ("sampler: tpee", "(did you mean 'tpe'?)"),
    ("sampler: 3", "'sampler' must be one of 'tpe'"),
    ("pruner: asha", "'pruner' must be one of 'hyperband', 'median', 'successive-halving', 'successive-halving-subset', 'none'"),
    ("pruner: hyperbnd", "(did you mean 'hyperband'?)"),
    ("pruner: null", "'pruner' must be one of 'hyperband'"),
    ("seed: -1", "'seed' must be an int in [0, 2147483647]; got -1."),
    ("seed: abc", "'seed' must be an int in [0, 2147483647]; got 'abc'."),
    ("epochs: 0", "'epochs' must be an int in [1, 1000]; got 0."),
    ("epochs: 5000", "'epochs' must be an int in [1, 1000]; got 5000."),
    ("max_params: -5", "'max_params' must be an int in [1, 1000000000000]; got -5."),
    ("storage: 5", "'storage' must be an Optuna storage URL; got 5 (a non-empty string)"),
    ("storage: studies/x.db", "'storage' must be an Optuna storage URL; got 'studies/x.db' (use sqlite:///path.db"),
    ("storage: redis://u:hunter2@h/0", "'storage' must be an Optuna storage URL; got 'redis://u:***@h/0'"),
    ("study: ../../outside", "'study' must be a study name; got '../../outside'"),
    ("study: a/b", "'study' must be a study name; got 'a/b'"),
    ("study: ''", "'study' must be a study name"),
    ("study: .hidden", "'study' must be a study name"),
    ("data: {name: imagenet}", "'data.name' must be one of 'fashion_mnist'"),
    ("data: [digits]", "'data' must be a mapping; got list."),
    ("space: 12", "'space' must be a non-empty string; got 12"),
    ("space: nothere.py", "'space' names nothere.py, which is not a file"),
    ("data: {limit: 10}", "'data.limit' must be an int in [20, 1000000000]; got 10."),
]


@pytest.mark.parametrize("text, message", STUDY_CASES)
def test_bad_study_files(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.py").write_text(OK_SPACE)
    space = "" if "needs 'space" in message else "space: ok.py\n"
    (tmp_path / "study.yaml").write_text(space + text + "\n")
    err = run_cli(["run", "study.yaml"], capsys, tmp_path)
    assert message in err and "study.yaml" in err


def test_a_study_file_reports_every_problem_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.yaml").write_text("trials: 0\nsampler: bayes\nfoo: 1\n")
    err = run_cli(["run", "study.yaml"], capsys, tmp_path)
    assert "4 problems" in err and "unknown key 'foo'" in err and "'space: spaces/FILE.py'" in err


ABLATION_REFERENCE = "study: lad\nreference: {conv: {depth: 2}}\n"
ABLATION_CASES = [
    ("study: lad\n", "'reference' is required."),
    ("reference: {conv: {depth: 2}}\n", "'study' is required."),
    (ABLATION_REFERENCE + "seeds: 1", "'seeds' must be an integer in [2, 100] or 'auto'; got 1 "
                                      "(paired statistics need at least 2 seeds"),
    (ABLATION_REFERENCE + "seeds: three", "'seeds' must be an integer in [2, 100] or 'auto'; got "
                                          "'three'"),
    (ABLATION_REFERENCE + "path_seeds: 0", "'path_seeds' must be an int in [1, 100]; got 0."),
    (ABLATION_REFERENCE + "alpha: 2", "'alpha' must be a float in (0, 0.5]; got 2."),
    (ABLATION_REFERENCE + "alpha: 0", "'alpha' must be a float in (0, 0.5]; got 0."),
    (ABLATION_REFERENCE + "epochs: 0", "'epochs' must be an int in [1, 1000]; got 0."),
    (ABLATION_REFERENCE + "components: [bn, dropuot]", "unknown component 'dropuot' (did you mean 'dropout'?)"),
    (ABLATION_REFERENCE + "components: bn", "'components' must be a non-empty list of component names"),
    (ABLATION_REFERENCE + "components: []", "'components' must be a non-empty list of component names"),
    (ABLATION_REFERENCE + "components: [bn+l3]", "unknown component 'l3'"),
    (ABLATION_REFERENCE + "ladder: [1, 2]", "'ladder' must be a non-empty list of component names"),
    (ABLATION_REFERENCE + "ladder: [augment]", "unknown component 'augment'"),
    (ABLATION_REFERENCE + "seed: 3", "unknown key 'seed' (did you mean 'seeds'?)"),
    (ABLATION_REFERENCE + "seeds: auto\nmax_runs: 0", "'max_runs' must be an int in [1, 1000000000]; got 0"),
    (ABLATION_REFERENCE + "seeds: 4\nmax_seeds: 6", "--max-seeds, --max-runs and --max-time bound "
                                                     "adaptive seeding; use them with --seeds auto"),
    (ABLATION_REFERENCE + "seeds: 2.5", "'seeds' must be an integer in [2, 100] or 'auto'"),
    (ABLATION_REFERENCE + "path_seeds: 4", "--path-seeds 4: the path's seeds are the ablation's "
                                            "own, and it has 3 (--seeds); give at most 3."),
    ("study: lad\nreference: {bn: {enabled: true}, dropout: {enabled: true}}\n"
     "components: [bn, bn+dropout]\n", "bn appear(s) more than once"),
    ("study: lad\nreference: {bn: {enabled: true}}\ncomponents: [bn, dropout]\n",
     "dropout do(es) not differ between the reference and the baseline"),
    ("study: lad\nreference: {conv: {depth: 4}}\nbaseline: {backbone: {name: vgg16}}\n"
     "components: [conv]\n", "conv change(s) only one of the reference and the baseline"),
    ("study: lad\nreference: {bn: {enabled: true}}\nseeds: auto\nmax_runs: 5\n",
     "--max-runs 5: the first look alone needs 6 runs (the two views' 2 distinct configs x 3 "
     "seeds)"),  # one component: each view's variant is the other's control
    ("study: lad\nreference: {bn: {enabled: true}, dropout: {enabled: true}}\nseeds: auto\n"
     "max_runs: 5\n", "--max-runs 5: the first look alone needs 12 runs (the two views' 4 "
                      "distinct configs x 3 seeds)"),
    (ABLATION_REFERENCE + "storage: ''", "'storage' must be an Optuna storage URL; got ''"),
    ("study: ../x\nreference: {conv: {depth: 2}}\n", "'study' must be a study name; got '../x'"),
    ("study: lad\nreference: {conv: {depth: 9}}\n", "'params.conv.depth' must be an int in [1, 8]; got 9."),
    ("study: lad\nreference: [1]\n", "'params' must be a mapping of components; got [1]."),
    ("study: lad\nreference: {conv: {}}\nbaseline: {bn: {enabled: yes please}}\n",
     "'params.bn.enabled' must be a bool; got 'yes please'."),
    ("study: lad\nreference: {conv: {}}\ndata: {name: cifar100}\n", "'data.name' must be one of"),
    ("study: lad\nreference: {conv: {depth: 2}}\nbaseline: {conv: {depth: 2}}\n",
     "do not differ in any component; nothing to ablate"),
]


@pytest.mark.parametrize("text, message", ABLATION_CASES)
def test_bad_ablation_files(tmp_path, capsys, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ab.yaml").write_text(text)
    assert message in run_cli(["ablate", "ab.yaml"], capsys, tmp_path)
