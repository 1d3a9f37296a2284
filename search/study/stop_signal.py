"""SIGTERM and Ctrl-C as a stop that cannot be lost, for every command that trains."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Callable, Iterator

from search.errors import Interrupted

__all__ = ["StopSignal", "stop_check", "stopping_on_signals", "backup_and_restore"]


class StopSignal:
    """A SIGTERM or Ctrl-C, kept as a flag as well as raised as KeyboardInterrupt.

    The exception alone can be lost: raised while Python runs a weakref or ``__del__``
    callback it is printed as "Exception ignored" and training goes on (fault injection
    caught a SIGTERM'd run starting 20 more trials). The flag is checked after every
    training step and before each trial, so a stop is never dropped.
    """

    requested = False
    _depth = 0  # open deferred blocks, in any thread
    _depth_lock = threading.Lock()

    @classmethod
    def handler(cls, signum: int, frame: Any) -> None:
        """Set the flag, and raise Interrupted unless a deferred block is open. A repeated
        SIGTERM (a scheduler that signals the job's shell, which passes it on, and every process
        of the job as well) only keeps the flag: it must not cut the first one's clean-up short
        (re-queueing the running trial). A repeated Ctrl-C is a person who wants out now: it
        raises again (a trial it leaves RUNNING is re-queued at the next start)."""
        if cls.requested and signum != signal.SIGINT:
            return
        cls.requested = True
        if not cls._depth:
            raise Interrupted

    @classmethod
    @contextlib.contextmanager
    def deferred(cls, *, raise_after: bool = True) -> Iterator[None]:
        """A stop that arrives inside the block is raised when the block ends, not in it (or,
        with ``raise_after=False``, only kept as the flag, which the training loops check: for
        a block on a path that already ends in an exception). Blocks nest and may run in any
        thread (unlike swapping handlers); the last one to end raises."""
        with cls._depth_lock:
            cls._depth += 1
        try:
            yield
        finally:
            with cls._depth_lock:
                cls._depth -= 1
                last = cls._depth == 0
        if raise_after and last:
            cls.check()

    @classmethod
    def check(cls) -> None:
        """Raise Interrupted if a stop was requested."""
        if cls.requested:
            raise Interrupted


def stop_check():
    """A Keras callback that raises Interrupted after any training or validation step once
    a stop was requested."""
    import keras

    class StopCheck(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            StopSignal.check()

        def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
            StopSignal.check()

    return StopCheck()


def backup_and_restore(folder: str, on_unreadable: Callable[[str], None] | None = None):
    """Keras' BackupAndRestore (kept after training; the caller deletes it once the result is
    stored) whose save a SIGTERM cannot cut in half: the stop waits for the save to end. A
    SIGKILL still can, so the previous epoch's copy is kept and loaded when the last one is
    broken (Keras falls back only on OSError; a cut-short weights file is a ValueError).

    When neither copy loads (a checkpoint an older layout of the model wrote, say) and the
    caller gives ``on_unreadable``, it is told why, before anything is removed (so it can note
    it first). If it raises, the run ends and the files are the caller's to remove; if it
    returns, the checkpoint is removed and the run starts over from epoch 1 with every
    variable back to what it held before the load. Read errors of the disk itself (an
    ``OSError`` with an errno) are raised as they are, the files left in place."""
    import keras

    class StopSafeBackupAndRestore(keras.callbacks.BackupAndRestore):
        def on_train_begin(self, logs: dict | None = None) -> None:
            if on_unreadable is None or not any(map(os.path.exists, (
                    self._training_metadata_path, self._prev_training_metadata_path,
                    self._weights_path, self._prev_weights_path))):
                super().on_train_begin(logs)
                return
            start = _variables_now(self.model)
            try:
                if not os.path.exists(self._weights_path):
                    raise OSError("its epoch count was saved without its weights")
                super().on_train_begin(logs)
            except OSError as exc:
                if exc.errno is not None and not isinstance(exc.__cause__, ValueError):
                    raise  # the disk, not the file: a later attempt may read it
                on_unreadable(f"its checkpoint did not load "
                              f"({str(exc).splitlines()[0][:200]}); it trains from epoch 1 again")
                self._remove_checkpoint()
                self.model._initial_epoch = None
                for variable, value in start:
                    variable.assign(value)

        def _remove_checkpoint(self) -> None:
            """The epoch counts first: a kill midway leaves weights without one, never an
            epoch count without its weights."""
            with StopSignal.deferred():
                for path in (self._training_metadata_path, self._prev_training_metadata_path,
                             self._weights_path, self._prev_weights_path):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)

        def _save_model(self) -> None:
            with StopSignal.deferred():
                super()._save_model()

        def _load_model(self) -> None:
            try:
                super()._load_model()
            except ValueError as exc:
                raise OSError(str(exc)) from exc

    return StopSafeBackupAndRestore(folder, delete_checkpoint=False, double_checkpoint=True)


def _variables_now(model: Any) -> list[tuple[Any, Any]]:
    """Each variable of a built model and of its optimizer (built here, as Keras' load does),
    with a copy of its value."""
    from keras import ops

    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + (list(optimizer.variables) if optimizer else [])
    unique = list({id(v): v for v in variables}.values())
    return [(v, ops.convert_to_numpy(v.value)) for v in unique]


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise KeyboardInterrupt (and set the flag) inside the block. Python
    delivers signals to the main thread only: elsewhere (a search run from a thread) the
    handlers stay as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    StopSignal.requested = False
    previous = signal.signal(signal.SIGTERM, StopSignal.handler)
    previous_int = signal.signal(signal.SIGINT, StopSignal.handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        StopSignal.requested = False  # a stop ends with its block: later saves must not raise
