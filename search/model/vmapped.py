"""Fused training on JAX: the k towers as one network under ``jax.vmap``.

Towers side by side (search.model.fused) make one program of k copies of every
operation. On JAX the copies can be one *batched* operation instead: every weight of
the network is stacked along a first axis of k, and Keras' stateless call of one
tower's network (``Model.stateless_call``) is mapped over that axis with
``jax.vmap``, so the k convolutions of a layer run as one grouped convolution and the
k matrix products as one batched product. That is what keeps a GPU busy with small
networks.

Nothing else changes: tower ``i``'s slice starts as the weights (and dropout and
augmentation random states) seed ``i`` builds alone, its loss is its own output's
loss plus its own weight penalty, and the optimiser's updates are element by element,
so each slice takes the step its solo run takes. Batch normalisation statistics and
random states are updated per slice. The towers' own models get their slices back at the
end of training (``SyncTowers``; after every epoch too when the recorder needs their weight
penalties), so each seed's result is a plain model of its own.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

__all__ = ["StackedTowers", "SyncTowers", "vmapped_model"]


class StackedTowers(keras.layers.Layer):
    """k networks of one architecture as one layer: each weight stacked along a first axis
    of k, the network run on each slice's own images under ``jax.vmap``."""

    def __init__(self, towers: Sequence[keras.Model], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # the architecture, kept out of Keras' tracking: its own weights never train
        object.__setattr__(self, "_template", towers[0])
        self.k = len(towers)
        self.trained = [self._stack(towers, j, True)
                        for j in range(len(towers[0].trainable_variables))]
        self.kept = [self._stack(towers, j, False)
                     for j in range(len(towers[0].non_trainable_variables))]

    def _stack(self, towers: Sequence[keras.Model], index: int, trainable: bool) -> Any:
        """The ``index``-th (non-)trainable variable of every tower as one variable."""
        values = [(t.trainable_variables if trainable else t.non_trainable_variables)[index]
                  for t in towers]
        stacked = keras.ops.stack([v.value for v in values])
        return self.add_weight(shape=tuple(stacked.shape), dtype=values[0].dtype,
                               trainable=trainable, name=values[0].path.replace("/", "__"),
                               initializer=lambda shape, dtype=None, value=stacked: value)

    def stacked_of(self, variables: Sequence[Any]) -> list[Any]:
        """The stacked variables that hold the template's ``variables`` (e.g. a backbone's)."""
        wanted = {id(v) for v in variables}
        return [s for s, v in zip(self.trained, self._template.trainable_variables)
                if id(v) in wanted]

    def call(self, images: Sequence[Any], training: bool | None = None) -> list[Any]:
        """Each tower's class probabilities for its own images."""
        import jax

        def one(trained: list, kept: list, x: Any) -> tuple[Any, list, Any]:
            y, kept, losses = self._template.stateless_call(trained, kept, x, training=training,
                                                            return_losses=True)
            return y, kept, sum(losses) if losses else keras.ops.zeros(())

        outputs, kept, penalties = jax.vmap(one)([v.value for v in self.trained],
                                                 [v.value for v in self.kept],
                                                 keras.ops.stack(list(images)))
        if training:
            for variable, value in zip(self.kept, kept):
                variable.assign(value)
        self.add_loss(keras.ops.sum(penalties))
        return [outputs[i] for i in range(self.k)]

    def write_back(self, towers: Sequence[keras.Model]) -> None:
        """Give every tower's own model its slice of the stacked weights."""
        for own, stacked in ((lambda t: t.trainable_variables, self.trained),
                             (lambda t: t.non_trainable_variables, self.kept)):
            for j, variable in enumerate(stacked):
                values = keras.ops.convert_to_numpy(variable.value)
                for i, tower in enumerate(towers):
                    own(tower)[j].assign(values[i])


class SyncTowers(keras.callbacks.Callback):
    """Gives the towers' own models their slices of the stacked weights: at the end of
    training (a resumed run may train no epoch), and after every epoch when the network has
    a weight penalty, which the tower recorder then reads from each tower's own model."""

    def __init__(self, stacked: StackedTowers, towers: Sequence[keras.Model]) -> None:
        super().__init__()
        self.stacked, self.towers = stacked, towers
        self.every_epoch = bool(towers[0].losses)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Copy the slices into the towers, when the recorder needs their penalties."""
        if self.every_epoch:
            self.stacked.write_back(self.towers)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Copy the slices into the towers."""
        self.stacked.write_back(self.towers)


def vmapped_model(towers: Sequence[keras.Model], input_shape: tuple[int, ...],
                  output_names: Sequence[str], backbone: Sequence[Any] = ()
                  ) -> tuple[keras.Model, list[Any], SyncTowers]:
    """One model of ``towers`` under ``jax.vmap``: k image inputs, k outputs named
    ``output_names`` (so the towers' losses and metrics keep a solo run's names); the
    stacked variables that hold the template's ``backbone`` variables; the callback that
    gives the towers their weights after every epoch."""
    inputs = [keras.Input(shape=input_shape, name=f"image_{i}") for i in range(len(towers))]
    stacked = StackedTowers(towers, name="stacked_towers")
    outputs = [keras.layers.Identity(name=name)(y)
               for name, y in zip(output_names, stacked(inputs))]
    return (keras.Model(inputs, outputs, name="fused"), stacked.stacked_of(backbone),
            SyncTowers(stacked, towers))
