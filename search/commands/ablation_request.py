"""What `ablate` is asked to do: a study or an ablation definition (YAML) plus flags, resolved
into the study, its storage, the reference and baseline configs and the plan's options.
Every value passes the one constraint table, and every problem is reported together."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from search.commands.requests import check_studies_dir, load_existing_study, storage_for
from search.errors import SearchError, shown
from search.inputs import check_study_name, check_values, did_you_mean, unknown_keys
from search.space.config import Config, read_yaml
from search.space.schema import COMPONENTS
from search.storage_url import StorageURL

__all__ = ["AblationRequest", "ablation_request", "ABLATION_KEYS"]

ABLATION_KEYS = ("study", "data", "seeds", "ladder", "components", "epochs", "path_seeds", "alpha",
                 "max_seeds", "max_runs", "max_time", "min_effect", "interactions", "reference",
                 "baseline", "storage")


def _ablation_file(path: Path) -> dict[str, Any]:
    raw = read_yaml(path)
    problems = unknown_keys(str(path), raw, ABLATION_KEYS)
    problems += [f"{path}: '{k}' is required." for k in ("study", "reference") if k not in raw]
    problems += check_values(str(path), raw, ABLATION_KEYS)
    for key in ("components", "ladder"):
        if key in raw:
            problems += _component_list_problems(f"{path}: '{key}'", raw[key])
    if problems:
        raise SearchError(problems)
    return raw


def _component_list_problems(where: str, value: Any) -> list[str]:
    """A list of components or ``a+b`` groups, each a known component."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return [f"{where} must be a non-empty list of component names; got {shown(value)}."]
    return [f"{where}: unknown component '{part}'{did_you_mean(part, COMPONENTS)}; allowed: "
            f"{', '.join(COMPONENTS)}." for item in value for part in item.split("+")
            if part not in COMPONENTS]


def _config_from(raw: Any, data: Any, source: str) -> Config:
    return Config.from_dict({"params": raw, "data": data or {}}, source=source)


def _split_list(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


@dataclasses.dataclass(frozen=True)
class AblationRequest:
    """One `ablate` command, resolved: the study, where it is stored, the two configs compared
    and the plan's options (the definition file's keys, with the flags' component lists)."""

    study: str
    storage: StorageURL
    reference: Config
    baseline: Config
    options: dict[str, Any]


def ablation_request(args: argparse.Namespace) -> AblationRequest:
    """The request from a study name or an ablation definition file plus the flags."""
    is_file = args.target.endswith((".yaml", ".yml"))
    spec = _ablation_file(Path(args.target)) if is_file else {"study": args.target}
    try:
        name = check_study_name(spec["study"])
    except ValueError as exc:
        raise SearchError(f"{args.target}: study name {shown(spec['study'])} must be {exc}.") from None
    spec["components"] = _flag_list(args, "components") or spec.get("components")
    spec["ladder"] = _flag_list(args, "ladder") or spec.get("ladder")
    check_studies_dir(args.studies_dir, name, writable=True)
    flag = "--storage" if args.storage else f"{args.target}: 'storage'"
    storage = storage_for(name, args.storage or spec.get("storage"), args.studies_dir, flag=flag)
    if "reference" in spec:
        reference = _config_from(spec["reference"], spec.get("data"), args.target)
        training = spec["reference"].get("training", {}) if isinstance(spec["reference"], dict) else {}
        baseline = _config_from(spec.get("baseline") or {"training": training}, spec.get("data"),
                                args.target)
    else:
        reference = Config.from_yaml(args.config)[0] if args.config else _best_config(
            name, storage, args.studies_dir)
        baseline = None
    if args.baseline:
        baseline = Config.from_yaml(args.baseline)[0]
    baseline = baseline or Config({"training": reference.params.get("training", {})},
                                  reference.data, reference.seed)
    return AblationRequest(name, storage, _override(reference, args, spec),
                           _override(baseline, args, spec), spec)


def _flag_list(args: argparse.Namespace, key: str) -> list[str] | None:
    values = _split_list(getattr(args, key))
    problems = _component_list_problems(f"--{key}", values) if values else []
    if problems:
        raise SearchError(problems)
    return values


def _override(config: Config, args: argparse.Namespace, spec: dict[str, Any]) -> Config:
    epochs = args.epochs or spec.get("epochs")
    if epochs:
        config = config.with_knob("training", "epochs", epochs)
    if args.limit:
        config = config.replace(data=dataclasses.replace(config.data, limit=args.limit))
    return config


def _best_config(name: str, storage: StorageURL, root: str) -> Config:
    study = load_existing_study(name, storage, root)
    try:
        best = study.best_trial
    except ValueError:
        raise SearchError(f"study '{name}' has no complete trial to ablate around; run more "
                          "trials or pass --config some.yaml.") from None
    return Config.from_dict(best.user_attrs.get("config"), activity=False, source=(
        f"study '{name}' trial {best.number} (stored config)")).without_inactive()
