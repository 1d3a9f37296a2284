"""The ablation engine on synthetic objectives with known effects and noise (milliseconds)."""

from __future__ import annotations

import zlib

import numpy as np

from search.ablation.engine import AblationPlan, differing_components, run_ablation
from search.space.config import Config

EFFECTS = {"bn": 0.030, "dropout": 0.015, "l2": 0.006, "l1": -0.010, "flip_h": 0.0, "flip_v": 0.0}


def synthetic(noise: float):
    """0.80 + the true effect of every enabled component + seeded Gaussian noise."""
    calls = []

    def objective(config: Config) -> float:
        calls.append(config.digest())
        rng = np.random.default_rng(zlib.crc32(config.digest().encode()))
        return 0.80 + sum(v for c, v in EFFECTS.items() if config.enabled(c)) + rng.normal(0, noise)

    return objective, calls


REFERENCE = Config({c: {"enabled": True} for c in EFFECTS})
BASELINE = Config({})


def plan(seeds: int, **kw) -> AblationPlan:
    return AblationPlan(REFERENCE, BASELINE, differing_components(REFERENCE, BASELINE),
                        list(range(seeds)), **kw)


def test_components_that_differ_are_found():
    assert differing_components(REFERENCE, BASELINE) == ["bn", "dropout", "l1", "l2", "flip_h",
                                                          "flip_v"]


def test_real_effects_are_ranked_in_true_order_and_significant():
    objective, _ = synthetic(noise=0.002)
    result = run_ablation(plan(seeds=6, path_seeds=2), objective)
    for view in (result.leave_one_out, result.add_one_in):
        ranked = [e.component for e in view]
        assert ranked[:3] == ["bn", "dropout", "l2"] and ranked[-1] == "l1"
        verdicts = {e.component: e.verdict for e in view}
        assert verdicts["bn"] == verdicts["dropout"] == "helps"
        assert verdicts["l1"] == "hurts"
        assert verdicts["flip_h"] == verdicts["flip_v"] == "not distinguishable from noise"
        bn = next(e for e in view if e.component == "bn").effect
        assert bn.ci_low < 0.030 < bn.ci_high
    assert [name for name, _ in result.path][:3] == ["bn", "dropout", "l2"]
    assert [name for name, _ in result.ladder][:2] == ["bn", "dropout"]


def test_null_components_are_flagged_at_about_the_nominal_rate():
    false_calls, total = 0, 0
    for repetition in range(60):
        objective, _ = synthetic(noise=0.004)
        p = plan(seeds=3, path_seeds=1)
        p.seeds = [repetition * 10 + s for s in range(3)]
        result = run_ablation(p, objective)
        for effect in result.leave_one_out:
            if effect.component in ("flip_h", "flip_v"):
                total += 1
                false_calls += effect.verdict != "not distinguishable from noise"
    assert false_calls / total <= 0.08, (false_calls, total)


def test_each_config_is_trained_once_and_a_rerun_trains_nothing(tmp_path):
    """On the real store (an SQLite study), not only the in-memory one."""
    from search.ablation.store import OptunaRunStore
    from search.study.lifecycle import make_storage

    objective, calls = synthetic(noise=0.002)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first = run_ablation(plan(seeds=2), objective, OptunaRunStore(make_storage(url), "s", url))
    assert len(calls) == len(set(calls))  # shared runs (reference, ladder, path) not repeated
    trained = len(calls)
    store = OptunaRunStore(make_storage(url), "s", url)  # a new process reading the database
    assert len(store) == trained
    again = run_ablation(plan(seeds=2), objective, store)
    assert len(calls) == trained  # resumed entirely from the store
    assert [e.component for e in again.add_one_in] == [e.component for e in first.add_one_in]
    assert len({row["run"] for row in first.runs}) == trained < len(first.runs)  # results shared


def test_user_given_ladder_order_is_kept():
    objective, _ = synthetic(noise=0.0)
    order = ["flip_h", "l1", "bn", "dropout", "l2", "flip_v"]
    result = run_ablation(plan(seeds=2, ladder_order=order), objective)
    assert [name for name, _ in result.ladder] == order
    final = result.ladder[-1][1]
    assert np.allclose(final, result.reference)  # all components added = the reference


def test_two_workers_share_one_ablation_without_training_anything_twice(tmp_path):
    import threading
    import time

    import optuna

    from search.ablation.store import OptunaRunStore
    from search.study.lifecycle import make_storage

    url = str(tmp_path / "shared.log")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective, calls = synthetic(noise=0.002)

    def slow(config):
        time.sleep(0.01)
        return objective(config)

    results = []

    def worker():
        store = OptunaRunStore(make_storage(url), "s", url)
        results.append(run_ablation(plan(seeds=2, path_seeds=1), slow, store, poll_seconds=0.05))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == len(set(calls))  # no run trained by both workers
    first, second = results
    assert [e.effect.mean for e in first.leave_one_out] == [e.effect.mean for e in second.leave_one_out]
    assert [name for name, _ in first.path] == [name for name, _ in second.path]


def test_a_dead_workers_claim_goes_stale_and_is_taken_over(tmp_path):
    import time

    from search.ablation.store import OptunaRunStore
    from search.study.lifecycle import make_storage

    url = str(tmp_path / "stale.log")
    dead = OptunaRunStore(make_storage(url), "s", url)
    config = REFERENCE.replace(seed=1)
    assert dead.claim("k", config=config, view="reference", component="all")
    alive = OptunaRunStore(make_storage(url), "s", url)
    assert not alive.claim("k", config=config, view="reference", component="all")
    trial = dead._claimed["k"]
    trial.set_user_attr("alive", time.time() - OptunaRunStore.STALE_SECONDS - 1)  # it died
    assert alive.claim("k", config=config, view="reference", component="all")
    alive.put("k", 0.9, config=config, view="reference", component="all")
    assert alive.get("k") == 0.9 and dead.get("k") == 0.9


def test_an_interrupted_run_is_released_at_once_from_any_thread(tmp_path, monkeypatch):
    """The heartbeat stops before the release (none lands on the failed trial) and the release
    takes no signal handler (which only the main thread may set): the next claim succeeds."""
    import threading
    import time

    from search.ablation.store import OptunaRunStore
    from search.study.lifecycle import make_storage

    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    monkeypatch.setattr(OptunaRunStore, "HEARTBEAT_SECONDS", 0.05)
    url, config = str(tmp_path / "runs.log"), REFERENCE.replace(seed=1)
    store = OptunaRunStore(make_storage(url), "s", url)

    def interrupted_run() -> None:
        assert store.claim("k", config=config, view="reference", component="all")
        trial = store._claimed["k"]
        try:
            with store.working("k"):
                first = store.study.trials[-1].user_attrs["alive"]
                deadline = time.monotonic() + 30
                while store.study.trials[-1].user_attrs["alive"] == first:  # a beat landed
                    assert time.monotonic() < deadline, "no heartbeat in 30 s"
                    time.sleep(0.01)
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        assert trial.number == store.study.trials[-1].number

    worker = threading.Thread(target=interrupted_run)
    worker.start()
    worker.join()
    assert not errors, errors
    released = store.study.trials[-1]
    assert released.state.name == "FAIL" and released.user_attrs["interrupted"]
    other = OptunaRunStore(make_storage(url), "s", url)
    assert other.claim("k", config=config, view="reference", component="all")


def test_checkpoints_of_runs_stored_by_another_worker_are_removed(tmp_path):
    from search.ablation.objective import KerasObjective

    root = tmp_path / "checkpoints"
    for key in ("done-elsewhere", "still-open"):
        (root / key).mkdir(parents=True)
        (root / key / "history.json").write_text("[]")
    KerasObjective(root).forget_stored(lambda key: key == "done-elsewhere")
    assert sorted(p.name for p in root.iterdir()) == ["still-open"]


def test_a_components_knobs_are_taken_in_schema_order():
    """``backbone.lr_ratio`` is active only under a backbone that fine-tunes: a stale
    ``trainable_blocks`` beside ``name: none`` does not carry it into the swapped config."""
    from search.ablation.configs import with_component
    from search.space.config import Config

    stale = Config({"backbone": {"name": "none", "trainable_blocks": 3, "lr_ratio": 0.1}})
    swapped = with_component(Config({}), stale, "backbone")
    assert swapped.params["backbone"] == {"name": "none"}
    tuned = Config({"backbone": {"name": "vgg16", "trainable_blocks": 3, "lr_ratio": 0.1}})
    assert with_component(Config({}), tuned, "backbone").params["backbone"]["lr_ratio"] == 0.1
