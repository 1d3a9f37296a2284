"""The backbone's own learning rate: discriminative rates and head-first fine-tuning.

Fine-tuning a pretrained backbone at the head's learning rate destroys what it
learned before the new head is any good. Two remedies, both knobs of the
``backbone`` component, both applied by the optimiser to the backbone's
variables only:

- ``lr_ratio``: the backbone's trainable blocks learn at ``lr_ratio`` times the
  head's rate (the schedule still applies to both);
- ``head_epochs``: for the first epochs the backbone's rate is 0, so the head
  trains alone; then the trainable blocks join (Keras' "train the head, then
  unfreeze" recipe without rebuilding or recompiling the model mid-run). Epochs
  are counted in the optimiser's applied steps, as Keras' schedules count them:
  under mixed_float16 the few steps loss scaling skips make the phase that much
  longer.

Keras 3 has no per-variable learning rate, but every optimiser applies its
update one variable at a time through ``update_step(gradient, variable,
learning_rate)``; subclasses of the stock optimisers scale the rate there. On
PyTorch that per-variable path replaces Keras' fused one (slower, the same
result). AdamW's decoupled weight decay is scaled the same way.
"""

from __future__ import annotations

from typing import Any, Iterable

import keras

__all__ = ["with_backbone_rate"]


class _BackboneRate:
    """Mixin for a stock Keras optimiser: a scaled learning rate for the backbone's variables."""

    def __init__(self, *args: Any, backbone_lr_ratio: float = 1.0,
                 backbone_frozen_steps: int = 0, backbone_paths: Iterable[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backbone_lr_ratio = float(backbone_lr_ratio)
        self.backbone_frozen_steps = int(backbone_frozen_steps)
        self.backbone_paths = sorted(backbone_paths)  # saved: a loaded model's optimiser
        self.backbone_keys: set[Any] = set()  # finds its backbone again when it is built

    def build(self, variables: list) -> None:
        super().build(variables)
        paths = set(self.backbone_paths)
        self.backbone_keys = {self._var_key(v) for v in variables if v.path in paths}

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> Any:
        # _var_key: the optimiser's own variable identity (some backends pass the backend's
        # variable behind each Keras variable here, others the Keras variable itself)
        if self._var_key(variable) in self.backbone_keys:
            learning_rate = learning_rate * self._backbone_scale(variable.dtype)
        return super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables: list) -> None:
        """Decoupled weight decay (AdamW's) is a step too: the backbone's is scaled alike, so it
        is held still during ``head_epochs`` (as per-group rates scale it in PyTorch)."""
        backbone = [v for v in variables if self._var_key(v) in self.backbone_keys]
        super()._apply_weight_decay([v for v in variables
                                     if self._var_key(v) not in self.backbone_keys])
        if self.weight_decay is None:
            return
        for variable in backbone:
            if self._use_weight_decay(variable):
                rate = keras.ops.cast(self.learning_rate, variable.dtype) \
                    * keras.ops.cast(self.weight_decay, variable.dtype) \
                    * self._backbone_scale(variable.dtype)
                variable.assign(variable - variable * rate)

    def _backbone_scale(self, dtype: Any) -> Any:
        ratio = keras.ops.cast(self.backbone_lr_ratio, dtype)
        if not self.backbone_frozen_steps:
            return ratio
        head_only = keras.ops.less(self.iterations, self.backbone_frozen_steps)
        return keras.ops.where(head_only, keras.ops.zeros((), dtype), ratio)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone_lr_ratio": self.backbone_lr_ratio,
                "backbone_frozen_steps": self.backbone_frozen_steps,
                "backbone_paths": self.backbone_paths}


def _subclass(base: type) -> type:
    scaled = type(f"Backbone{base.__name__}", (_BackboneRate, base),
                  {"__doc__": f"{base.__name__} with the backbone's learning rate scaled."})
    return keras.saving.register_keras_serializable(package="search")(scaled)


_SCALED = {base: _subclass(base) for base in (
    keras.optimizers.SGD, keras.optimizers.RMSprop, keras.optimizers.Adam,
    keras.optimizers.AdamW, keras.optimizers.Adamax)}


def with_backbone_rate(optimizer_class: type, backbone: Iterable[Any], *, lr_ratio: float,
                       frozen_steps: int, **kwargs: Any) -> keras.optimizers.Optimizer:
    """``optimizer_class(**kwargs)``, with ``backbone``'s variables learning at ``lr_ratio``
    times the rate, and not at all for the first ``frozen_steps`` steps. A plain optimiser
    when neither applies (no trainable backbone, ratio 1, no frozen steps)."""
    backbone = list(backbone)
    if not backbone or (lr_ratio == 1.0 and not frozen_steps):
        return optimizer_class(**kwargs)
    return _SCALED[optimizer_class](backbone_lr_ratio=lr_ratio, backbone_frozen_steps=frozen_steps,
                                    backbone_paths=[v.path for v in backbone], **kwargs)
