"""SIGTERM/Ctrl-C as a stop that is never lost: deferred blocks, nesting, other threads."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from search.study.stop_signal import StopSignal, stopping_on_signals


def sigterm_self() -> None:
    """Send this process SIGTERM and wait until its handler ran (it runs between bytecodes)."""
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while not StopSignal.requested:
        assert time.monotonic() < deadline, "SIGTERM not handled in 10 s"
        time.sleep(0.001)


def test_a_stop_in_nested_deferred_blocks_is_raised_when_the_outermost_ends():
    reached = []
    with stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            with StopSignal.deferred():
                with StopSignal.deferred():
                    sigterm_self()
                reached.append("after the inner block")  # still deferred by the outer one
    assert reached == ["after the inner block"]
    assert not StopSignal.requested  # a stop ends with its block


def test_raise_after_false_keeps_the_stop_as_the_flag():
    with stopping_on_signals():
        with StopSignal.deferred(raise_after=False):
            sigterm_self()
        assert StopSignal.requested
        with pytest.raises(KeyboardInterrupt):
            StopSignal.check()


def test_a_repeated_signal_keeps_the_flag_and_does_not_cut_the_clean_up_short():
    cleaned = []
    with stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            try:
                sigterm_self()
                time.sleep(1)  # the handler raises here, between bytecodes
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the scheduler's second copy
                time.sleep(0.05)
                cleaned.append("re-queued")
    assert cleaned == ["re-queued"]


def test_a_second_ctrl_c_raises_again():
    with stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            StopSignal.handler(signal.SIGTERM, None)
        with pytest.raises(KeyboardInterrupt):
            StopSignal.handler(signal.SIGINT, None)
        StopSignal.handler(signal.SIGTERM, None)  # a repeated SIGTERM: the flag only


def test_handlers_are_left_alone_off_the_main_thread():
    before, seen = signal.getsignal(signal.SIGTERM), []

    def body() -> None:
        with stopping_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == [before] and signal.getsignal(signal.SIGTERM) == before


def test_a_block_in_another_thread_does_not_end_the_main_threads_deferral():
    with stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            with StopSignal.deferred():
                def other() -> None:
                    with StopSignal.deferred(raise_after=False):
                        pass

                worker = threading.Thread(target=other)
                worker.start()
                worker.join()
                sigterm_self()  # still deferred: raised when the main block ends, not here
                reached = True
    assert reached
