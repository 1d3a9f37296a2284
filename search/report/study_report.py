"""`search report STUDY`: study views plus best-model views, as index.html and report.md.

Study views use Optuna's matplotlib visualisation module; model views use the
refit model (`train --refit`; made here if missing). The HTML embeds every
image, so it opens offline; report.md links the same PNG files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from search.space.config import Config
from search.report.evaluation import (evaluate, plot_confusion, plot_curves, plot_embedding, plot_examples,
                         predictions_frame)
from search.report.plotting import pyplot, save
from search.report.importance import ImportanceView, importance_views, plot_importance
from search.report.render import Section, write_report

__all__ = ["study_sections", "model_sections", "Section", "write_report"]

TSNE_SAMPLE = 1000


def _optuna_plot(name: str, path: Path, draw: Callable[[], object], *,
                 height: float = 5.0) -> Section:
    try:
        axes = draw()
    except Exception as exc:  # e.g. too few trials for importance: say so, keep going
        return Section(name, text=f"not available: {exc}")
    figure = (axes.flat[0] if isinstance(axes, np.ndarray) else axes).get_figure()
    figure.set_size_inches(10, height)
    save(figure, path)
    return Section(name, images=[path])


def study_sections(study: optuna.Study, out: Path) -> list[Section]:
    """The study's report sections: summary, history, importance, slices of the top knobs,
    learning curves and timeline, with their PNGs written into ``out``."""
    pyplot()  # select the headless backend before Optuna imports pyplot
    from optuna.visualization import matplotlib as ov

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ped_anova = importance_views(study)[0]
    top = list(ped_anova.knobs)[:4] or sorted({k for t in study.trials for k in t.params})[:4]
    sections = [_summary(study),
                _optuna_plot("Optimisation history and best so far", out / "history.png",
                             lambda: ov.plot_optimization_history(study)),
                _importance(ped_anova, out / "importance.png"),
                _optuna_plot(f"Slices of the top knobs ({', '.join(top)})", out / "slices.png",
                             lambda: ov.plot_slice(study, params=top)),
                _optuna_plot("Learning curves: pruned vs complete trials", out / "intermediate.png",
                             lambda: ov.plot_intermediate_values(study)),
                _optuna_plot("Time per trial", out / "timeline.png",
                             lambda: ov.plot_timeline(study))]
    sections[0].text += f" {len(complete)} complete trials."
    return sections


def _importance(view: ImportanceView, path: Path) -> Section:
    title = "Parameter importance (PED-ANOVA, complete trials)"
    if not view.knobs:
        return Section(title, text=view.note)
    return Section(title, text=view.note, images=[plot_importance(view, path)])


def _summary(study: optuna.Study) -> Section:
    states = {s.name: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState}
    rows = [["state", "trials"]] + [[k, str(v)] for k, v in states.items() if v]
    try:
        best = study.best_trial
        text = (f"Best validation accuracy {best.value:.4f} (trial {best.number}, best epoch "
                f"{best.user_attrs.get('best_epoch')}, {best.user_attrs.get('params_count', 0):,} "
                "parameters).")
    except ValueError:
        text = "No complete trial yet."
    return Section(f"Study '{study.study_name}'", text=text, table=rows)


def model_sections(study: optuna.Study, model_path: Path, out: Path,
                   history: list[dict[str, float]]) -> list[Section]:
    """The refit model's views on the test split: accuracy, confusion, curves, examples,
    embedding and the kNN probe."""
    from search.data.dataset import load_dataset
    from search.report.refit import load_refit_model
    from search.model.training import predict_probabilities

    best = Config.from_dict(study.best_trial.user_attrs["config"], source="best trial",
                            activity=False)
    data = load_dataset(best.data)
    model = load_refit_model(model_path)
    x_test, y_test = data.test()
    probabilities = predict_probabilities(model, x_test)
    result = evaluate(y_test, probabilities, data.class_names)
    predictions_frame(y_test, probabilities, data.class_names).to_csv(out / "predictions.csv",
                                                                      index=False)
    names = data.class_names
    return [
        Section("Test accuracy (refit model, test split used once)",
                text=f"{result.accuracy:.4f} on {result.n} test images. Predictions with "
                     "probabilities: predictions.csv.",
                table=[["class", "accuracy"]] + [[k, f"{v:.4f}"] for k, v in result.per_class.items()]),
        Section("Classification report", preformatted=result.classification_report),
        Section("Confusion matrix", images=[
            plot_confusion(result.confusion, names, out / "confusion.png", normalise=False),
            plot_confusion(result.confusion, names, out / "confusion_normalised.png", normalise=True)]),
        Section("Loss and accuracy curves of the best trial",
                images=[plot_curves(history, out / "curves.png",
                                    title=f"best trial {study.best_trial.number}")]),
        Section("Most confident mistakes and least confident hits",
                images=[plot_examples(x_test, y_test, probabilities, names, out / "examples.png")]),
        Section("Learned embedding", images=[_embedding(model, x_test, y_test, names, out)]),
        _probe_section(model, data, result),
    ]


def _probe_section(model, data, result) -> Section:
    """kNN on the refit model's penultimate features (neighbours: train+validation, which the
    refit trained on), scored on the test split beside the softmax head."""
    from search.report.probe import knn_probe

    reference = (np.concatenate([data.x_train, data.x_val]), np.concatenate([data.y_train, data.y_val]))
    probe = knn_probe(model, reference, data.test(), data.class_names)
    rows = [["class", "kNN probe", "softmax head"]] + [
        [name, f"{value:.4f}", f"{result.per_class.get(name, float('nan')):.4f}"]
        for name, value in probe.per_class.items()]
    return Section(f"k-nearest-neighbours probe (k={probe.k}, penultimate layer)",
                   text=f"Test accuracy {probe.accuracy:.4f} with {probe.reference_images} "
                        f"reference images, against the softmax head's {result.accuracy:.4f}.",
                   table=rows)


def _embedding(model, x_test, y_test, names, out: Path) -> Path:
    from search.report.probe import penultimate_features

    rng = np.random.default_rng(0)
    sample = rng.choice(len(y_test), size=min(TSNE_SAMPLE, len(y_test)), replace=False)
    return plot_embedding(penultimate_features(model, x_test[sample]), y_test[sample], names,
                          out / "embedding.png")
