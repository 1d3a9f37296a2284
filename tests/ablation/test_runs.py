"""search/ablation/runs.py: the runner trains each distinct run once through its store, logs
every (run, view, component) it uses once, and waits on runs another worker has claimed."""

from __future__ import annotations

import contextlib

import pytest

from search.ablation.runs import MemoryRunStore, Runner, jobs
from search.space.config import Config

CONFIG = Config({"bn": {"enabled": True}})


def counting_objective():
    calls: list[str] = []

    def objective(config: Config) -> float:
        calls.append(config.digest())
        return 0.5 + config.seed / 100

    return objective, calls


def test_jobs_give_one_config_per_seed_with_its_view_and_component():
    made = jobs(CONFIG, [3, 1], "add-one-in", "bn")
    assert [(c.seed, view, component) for c, view, component in made] == [
        (3, "add-one-in", "bn"), (1, "add-one-in", "bn")]
    assert all(c.params == CONFIG.params for c, _, _ in made)


def test_a_run_shared_by_two_views_is_trained_once_and_logged_for_each():
    objective, calls = counting_objective()
    trained, used = [], []
    runner = Runner(objective, MemoryRunStore(), used.append, on_trained=trained.append)
    assert runner.values(CONFIG, [1, 2], "leave-one-out", "reference") == [0.51, 0.52]
    assert runner.values(CONFIG, [2, 3], "ladder", "bn") == [0.52, 0.53]
    assert runner.values(CONFIG, [1], "leave-one-out", "reference") == [0.51]  # logged already
    assert len(calls) == len(set(calls)) == runner.trained == 3
    assert [(r["view"], r["seed"]) for r in used] == [
        ("leave-one-out", 1), ("leave-one-out", 2), ("ladder", 2), ("ladder", 3)]
    assert runner.distinct == 3 and len(runner.runs) == 4
    assert [t["trained"] for t in trained] == [1, 2, 3]
    assert trained[0]["run"] == CONFIG.replace(seed=1).digest()


def test_prepare_trains_what_is_missing_and_a_stored_run_is_never_retrained():
    objective, calls = counting_objective()
    store = MemoryRunStore({CONFIG.replace(seed=1).digest(): 0.9})
    runner = Runner(objective, store, None)
    batch = jobs(CONFIG, [1, 2, 3], "v", "c")
    assert runner.missing(batch) == 2
    runner.prepare(batch)
    assert runner.missing(batch) == 0 and runner.trained == 2 and len(calls) == 2
    assert runner.values(CONFIG, [1, 2], "v", "c") == [0.9, 0.52]  # the stored value is used
    assert runner.runs[0]["value"] == 0.9


class ClaimedElsewhere(MemoryRunStore):
    """Another worker holds the claim on every run and stores its value after two looks."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def get(self, key: str) -> float | None:
        self.looks += 1
        if self.looks > 2:
            self.values.setdefault(key, 0.7)
        return super().get(key)

    def claim(self, key: str, **_) -> bool:
        return False

    def working(self, key: str) -> contextlib.AbstractContextManager:
        raise AssertionError("nothing is trained here")


def test_a_run_claimed_by_another_worker_is_waited_for_not_trained():
    objective, calls = counting_objective()
    runner = Runner(objective, ClaimedElsewhere(), None, poll_seconds=0)
    assert runner.one(CONFIG, "v", "c") == 0.7
    assert calls == [] and runner.trained == 0 and runner.distinct == 1


class GroupObjective:
    """Records how runs reach it: one config at a time, or one config's seeds together."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    def __call__(self, config: Config) -> float:
        self.groups.append([config.seed])
        return 0.5 + config.seed / 100

    def fuses(self, configs: list[Config]) -> bool:
        return True

    def train_group(self, configs: list[Config]) -> list[float]:
        assert len({c.replace(seed=0).digest() for c in configs}) == 1  # one config's seeds
        self.groups.append([c.seed for c in configs])
        return [0.5 + c.seed / 100 for c in configs]


def test_prepare_trains_the_claimed_seeds_of_each_config_together():
    objective, other = GroupObjective(), CONFIG.with_knob("bn", "momentum", 0.5)
    store = MemoryRunStore({CONFIG.replace(seed=2).digest(): 0.9})
    trained: list[dict] = []
    runner = Runner(objective, store, None, on_trained=trained.append)
    runner.prepare(jobs(CONFIG, [1, 2, 3], "v", "ref") + jobs(other, [1, 2], "v", "bn")
                   + jobs(CONFIG, [3], "w", "again"))  # the same run in another view: once
    assert objective.groups == [[1, 3], [1, 2]]  # the stored seed is not retrained
    assert [(t["component"], t["seed"], t["value"]) for t in trained] == [
        ("ref", 1, 0.51), ("ref", 3, 0.53), ("bn", 1, 0.51), ("bn", 2, 0.52)]
    assert store.get(other.replace(seed=2).digest()) == 0.52
    assert runner.values(CONFIG, [1, 2, 3], "v", "ref") == [0.51, 0.9, 0.53]
    assert objective.groups == [[1, 3], [1, 2]]  # nothing more trained


def test_each_run_of_a_group_is_stored_with_its_share_of_the_groups_training_time(monkeypatch):
    import search.ablation.runs as runs

    clock = [100.0]
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock[0])

    class Slow(GroupObjective):
        def train_group(self, configs: list[Config]) -> list[float]:
            clock[0] += 30.0 * len(configs)  # 30 s per seed, trained together
            return super().train_group(configs)

    timed: list[float] = []

    class Recording(MemoryRunStore):
        def put(self, key, value, *, seconds=None, **tags):
            timed.append(seconds)
            super().put(key, value, **tags)

    Runner(Slow(), Recording(), None).prepare(jobs(CONFIG, [1, 2, 3], "v", "c"))
    assert timed == [30.0, 30.0, 30.0]  # not the group's 90 s each: the ETA counts runs


class NoFusion(GroupObjective):
    def fuses(self, configs: list[Config]) -> bool:
        return False


def test_seeds_that_cannot_fuse_are_trained_and_stored_one_by_one():
    objective, stored = NoFusion(), []

    class Recording(MemoryRunStore):
        def put(self, key, value, **tags):
            stored.append((tags["config"].seed, len(objective.groups)))
            super().put(key, value, **tags)

    Runner(objective, Recording(), None).prepare(jobs(CONFIG, [1, 2], "v", "c"))
    assert objective.groups == [[1], [2]]
    assert stored == [(1, 1), (2, 2)]  # each value stored before the next run trains


class Failing(GroupObjective):
    def train_group(self, configs: list[Config]) -> list[float]:
        raise RuntimeError("out of memory")


def test_every_claim_of_a_group_is_released_when_its_training_fails():
    released: list[str] = []

    class Claims(MemoryRunStore):
        @contextlib.contextmanager
        def working(self, key):
            try:
                yield
            except BaseException:
                released.append(key)
                raise

    runner = Runner(Failing(), Claims(), None)
    with pytest.raises(RuntimeError, match="out of memory"):
        runner.prepare(jobs(CONFIG, [1, 2], "v", "c"))
    assert sorted(released) == sorted(CONFIG.replace(seed=s).digest() for s in (1, 2))
    assert runner.trained == 0
