"""The engine's vocabulary: every component and knob it knows how to build.

A space file may only name knobs declared here; each knob has a type, an
allowed domain, a baseline ("off") value and, for conditional knobs, the
sibling (or other component's) value that makes it active. Components are what the ablation reporter
switches on and off, so each one's baseline is simply its knobs' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search.domain import Domain

__all__ = ["KnobSpec", "AtLeast", "describe_when", "Component", "COMPONENTS", "AUGMENTATIONS",
           "BACKBONES", "knob_spec"]


@dataclass(frozen=True)
class AtLeast:
    """A ``when`` condition on a number: active from ``bound`` up (``value in AtLeast(1)``)."""

    bound: float

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and value >= self.bound

    def __str__(self) -> str:
        return f">= {self.bound}"


def describe_when(when: tuple[str, tuple[Any, ...] | AtLeast]) -> str:
    """A knob's condition as text: ``switch in [values]``, or ``switch >= n``."""
    switch, values = when
    return f"{switch} {values}" if isinstance(values, AtLeast) else f"{switch} in {list(values)}"


@dataclass(frozen=True)
class KnobSpec(Domain):
    """What values a knob may take; ``per`` names the count knob for per-block lists."""

    type: type
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    low_open: bool = False
    choices: tuple[Any, ...] | None = None
    when: tuple[str, tuple[Any, ...] | AtLeast] | None = None
    per: str | None = None
    added_later: bool = False  # at its default, left out of a config's identity (digest), so
    # configs written before the knob existed keep theirs

    def is_active(self, siblings: dict[str, Any], params: dict[str, dict] | None = None) -> bool:
        """``when`` names a sibling knob, or ``component.knob`` elsewhere in ``params`` (a
        component not in ``params`` is at its baseline)."""
        if self.when is None:
            return True
        switch, values = self.when
        if "." in switch:
            component, knob = switch.split(".")
            value = (params or {}).get(component, {}).get(knob)
            return (COMPONENTS[component].knobs[knob].default if value is None else value) in values
        return siblings.get(switch) in values


@dataclass(frozen=True)
class Component:
    """A named group of knobs that is switched on and off as a whole."""

    name: str
    doc: str
    knobs: dict[str, KnobSpec] = field(default_factory=dict)

    @property
    def switchable(self) -> bool:
        """Whether the component has an ``enabled`` knob (can be switched off)."""
        return "enabled" in self.knobs

    def baseline(self) -> dict[str, Any]:
        """The component's "off" values (its knobs' defaults, inactive knobs left out)."""
        values: dict[str, Any] = {}
        for name, spec in self.knobs.items():
            if spec.is_active(values):
                values[name] = [spec.default] * _count(values, spec) if spec.per else spec.default
        return values


def _count(values: dict[str, Any], spec: KnobSpec) -> int:
    return int(values[spec.per]) if spec.per else 1


ON = ("enabled", (True,))


def _switch(doc: str) -> KnobSpec:
    return KnobSpec(bool, False, doc)


def _rate(default: float, doc: str, **kw: Any) -> KnobSpec:
    return KnobSpec(float, default, doc, low=0.0, high=1.0, high_open=True, **kw)


def _positive(default: float, doc: str, high: float = 1.0, **kw: Any) -> KnobSpec:
    return KnobSpec(float, default, doc, low=0.0, high=high, low_open=True, **kw)


BACKBONES = ("vgg16", "resnet50", "mobilenet_v3_small", "efficientnet_b0")
WITH_BACKBONE = ("name", BACKBONES)
NO_BACKBONE = ("backbone.name", ("none",))  # the conv stack is the model when no backbone is
FINE_TUNED = ("trainable_blocks", AtLeast(1))  # (inactive without a backbone: not a sibling then)

_ARCHITECTURE = [
    Component("backbone", "a Keras application as feature extractor (search/model/backbone.py)", {
        "name": KnobSpec(str, "none", "none (the conv stack below) or a Keras application",
                         choices=("none", *BACKBONES)),
        "weights": KnobSpec(str, "imagenet", "'imagenet' (Keras' cache, else a download), 'none' "
                            "(random), or the path of a .weights.h5 file", when=WITH_BACKBONE),
        "trainable_blocks": KnobSpec(int, 0, "how many of the last blocks train (0: frozen "
                                     "feature extractor; the block count or more: all)", low=0,
                                     high=100, when=WITH_BACKBONE),
        "blocks": KnobSpec(int, 0, "use only the first N blocks (0: all)", low=0, high=100,
                           when=WITH_BACKBONE),
        "lr_ratio": _positive(1.0, "the trainable blocks' learning rate as a fraction of the "
                              "head's (discriminative learning rates; 1: the same)",
                              when=FINE_TUNED, added_later=True),
        "head_epochs": KnobSpec(int, 0, "epochs the head trains alone before the trainable "
                                "blocks join (two-phase fine-tuning; 0: from the start)", low=0,
                                high=1000, when=FINE_TUNED, added_later=True),
    }),
    Component("conv", "convolution blocks: conv -> [bn] -> activation -> [pool] -> [dropout]", {
        "depth": KnobSpec(int, 2, "number of conv blocks", low=1, high=8, when=NO_BACKBONE),
        "filters": KnobSpec(int, 32, "filters of each block (one value per block)", low=1, high=2048,
                            per="depth", when=NO_BACKBONE),
        "kernel": KnobSpec(int, 3, "square kernel size", choices=(1, 3, 5, 7), when=NO_BACKBONE),
        "padding": KnobSpec(str, "same", "conv padding", choices=("same", "valid"),
                            when=NO_BACKBONE),
        "pooling": KnobSpec(str, "max", "2x2 pooling after each block",
                            choices=("max", "avg", "none"), when=NO_BACKBONE),
        "activation": KnobSpec(str, "relu", "activation", choices=("relu", "elu", "gelu", "silu"),
                               when=NO_BACKBONE),
    }),
    Component("bn", "batch normalisation after each conv and dense layer", {
        "enabled": _switch("use batch normalisation"),
        "momentum": _rate(0.9, "moving-statistics momentum (their start is divided out at "
                          "inference, so 0.99 validates right from epoch 1)", when=ON),
    }),
    Component("dropout", "dropout after conv blocks and dense layers", {
        "enabled": _switch("use dropout"),
        "conv_rate": _rate(0.25, "dropout rate after each conv block (0 = none)", when=ON),
        "head_rate": _rate(0.5, "dropout rate after each dense layer (0 = none)", when=ON),
    }),
    Component("l1", "L1 kernel regularisation on conv and dense layers", {
        "enabled": _switch("use L1"),
        "factor": _positive(1e-4, "L1 factor", when=ON),
    }),
    Component("l2", "L2 kernel regularisation on conv and dense layers", {
        "enabled": _switch("use L2"),
        "factor": _positive(1e-4, "L2 factor", when=ON),
    }),
    Component("head", "dense layers between the conv blocks and the classifier", {
        "layers": KnobSpec(int, 1, "number of dense layers", low=0, high=4),
        "units": KnobSpec(int, 128, "width of each dense layer (one value per layer)", low=1,
                          high=8192, per="layers"),
    }),
]

_AUGMENTATION = [
    Component("flip_h", "random horizontal flip", {"enabled": _switch("flip left-right")}),
    Component("flip_v", "random vertical flip", {"enabled": _switch("flip upside-down")}),
    Component("rotation", "random rotation", {
        "enabled": _switch("rotate"),
        "degrees": KnobSpec(float, 10.0, "maximum angle either way", low=0, high=180, when=ON)}),
    Component("zoom", "random zoom in or out", {
        "enabled": _switch("zoom"),
        "factor": _rate(0.1, "maximum zoom fraction", when=ON)}),
    Component("shear", "random shear", {
        "enabled": _switch("shear"),
        "factor": KnobSpec(float, 0.1, "maximum shear", low=0, high=1, when=ON)}),
    Component("translation", "random width/height shift", {
        "enabled": _switch("shift"),
        "factor": _rate(0.1, "maximum shift as a fraction of the side", when=ON)}),
    Component("crop", "random crop, resized back to the input size", {
        "enabled": _switch("crop"),
        "fraction": KnobSpec(float, 0.1, "fraction of each side cut away", low=0, high=0.9,
                             low_open=True, when=ON)}),
    Component("cutout", "random erasing of a rectangle (cutout)", {
        "enabled": _switch("erase"),
        "probability": _positive(0.5, "highest chance per image (each step draws one in [0, p])",
                                 when=ON),
        "area": _positive(0.2, "largest erased area as a fraction of the image", when=ON)}),
    Component("noise", "additive Gaussian noise (in normalised units)", {
        "enabled": _switch("add noise"),
        "stddev": _positive(0.05, "noise standard deviation", high=10.0, when=ON)}),
    Component("elastic", "random elastic distortion", {
        "enabled": _switch("distort"),
        "probability": _positive(0.5, "highest chance per image (each step draws one in [0, p])",
                                 when=ON),
        "scale": _positive(0.5, "distortion strength", when=ON)}),
]

_TRAINING = [
    Component("optimizer", "optimiser and base learning rate", {
        "name": KnobSpec(str, "adam", "optimiser", choices=("adam", "adamax", "rmsprop", "sgd",
                                                            "adamw")),
        "learning_rate": _positive(1e-3, "base learning rate", high=10.0),
        "momentum": _rate(0.9, "momentum (sgd, rmsprop)", when=("name", ("sgd", "rmsprop"))),
        "weight_decay": _rate(1e-4, "decoupled weight decay (adamw)", when=("name", ("adamw",))),
    }),
    Component("schedule", "learning-rate schedule", {
        "name": KnobSpec(str, "constant", "schedule", choices=(
            "constant", "step", "exponential", "cosine", "cosine_restarts", "plateau")),
        "drop_factor": _positive(0.1, "lr multiplier at each drop (step: at 50% and 75% of the "
                                 "epochs; plateau: when validation loss stalls)",
                                 when=("name", ("step", "plateau"))),
        "decay_rate": _positive(0.9, "lr multiplier per epoch", when=("name", ("exponential",))),
        "warmup_epochs": KnobSpec(int, 0, "linear warm-up epochs before the cosine", low=0,
                                  high=1000, when=("name", ("cosine",))),
        "period_epochs": KnobSpec(int, 10, "epochs per warm restart (SGDR)", low=1, high=1000,
                                  when=("name", ("cosine_restarts",))),
        "min_ratio": KnobSpec(float, 1 / 6, "lowest lr as a fraction of the base lr", low=0, high=1,
                              when=("name", ("cosine", "cosine_restarts"))),
        "patience": KnobSpec(int, 2, "epochs without improvement before a drop", low=1, high=100,
                             when=("name", ("plateau",))),
    }),
    Component("training", "batch size, epochs, loss and compute precision", {
        "batch_size": KnobSpec(int, 64, "batch size", low=1, high=65536),
        "epochs": KnobSpec(int, 10, "maximum epochs (the pruner may stop earlier)", low=1, high=1000),
        "label_smoothing": _rate(0.0, "label smoothing of the cross-entropy"),
        "precision": KnobSpec(str, "float32", "compute precision; mixed_* keep float32 weights "
                              "(mixed_float16: GPUs with tensor cores, mixed_bfloat16: TPUs, "
                              "recent GPUs and CPUs)",
                              choices=("float32", "mixed_float16", "mixed_bfloat16")),
    }),
]

COMPONENTS: dict[str, Component] = {c.name: c for c in _ARCHITECTURE + _AUGMENTATION + _TRAINING}
AUGMENTATIONS: tuple[str, ...] = tuple(c.name for c in _AUGMENTATION)


def knob_spec(component: str, knob: str) -> KnobSpec:
    """The spec of ``component.knob``; KeyError for an unknown one."""
    return COMPONENTS[component].knobs[knob]
