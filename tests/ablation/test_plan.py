"""search/ablation/plan.py: what an ablation will cost, said before anything trains: runs per
part and how many are shared, runs already stored, and an ETA from measured durations."""

from __future__ import annotations

import datetime as dt

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.ablation.engine import AblationPlan
from search.ablation.plan import describe_plan, seconds_per_run
from search.ablation.store import OptunaRunStore
from search.space.config import Config
from search.study.lifecycle import make_storage

REFERENCE = Config({"bn": {"enabled": True}, "dropout": {"enabled": True},
                    "l2": {"enabled": True}, "training": {"epochs": 5}})
BASELINE = Config({"training": {"epochs": 5}})
COMPONENTS = ["bn", "dropout", "l2"]


def finished(number: int, *, seconds: float = 0.0, **user_attrs) -> FrozenTrial:
    start = dt.datetime(2026, 1, 1, 12)
    return FrozenTrial(number=number, state=TrialState.COMPLETE, value=0.9, datetime_start=start,
                       datetime_complete=start + dt.timedelta(seconds=seconds), params={},
                       distributions={}, user_attrs=user_attrs, system_attrs={},
                       intermediate_values={}, trial_id=number)


def test_fixed_seeds_count_each_part_and_what_it_shares_with_the_parts_above():
    plan = AblationPlan(REFERENCE, BASELINE, COMPONENTS, [0, 1, 2])
    text = describe_plan(plan, None, "s", optuna.storages.InMemoryStorage())
    lines = text.splitlines()
    assert lines[0] == "ablation of 's': 3 components; 3 seeds"
    assert lines[1].split() == ["leave-one-out", "12", "runs", "(12", "not", "shared", "with",
                                "the", "parts", "above)"]  # reference + 3 variants, 3 seeds
    assert lines[2].split()[:2] == ["add-one-in", "12"]
    assert lines[3].split()[:4] == ["ladder", "9", "runs", "(0"]  # every rung is in a view
    assert "path           at most 6 more runs" in text  # (3*4/2 - 3 - 1) steps x 3 seeds
    assert "24 distinct runs known now, 0 of them stored" in text and "24 to train" in text
    assert "ETA" not in text  # nothing measured yet


def test_adaptive_seeds_and_interactions_are_counted_too():
    plan = AblationPlan(REFERENCE, BASELINE, COMPONENTS, list(range(8)), adaptive=True,
                        interactions=2, interaction_seeds=[9, 10, 11])
    text = describe_plan(plan, None, "s", optuna.storages.InMemoryStorage())
    assert text.splitlines()[0].endswith(
        "seeds auto: 3 to 8 per comparison (looks at [3, 4, 5, 7, 8])")
    assert "interactions     12 runs (12 not shared" in text  # 4 cells on 3 fresh seeds
    assert "36 to train before the path; adaptive seeds may add up to 40 more" in text
    bn_only = Config({"bn": {"enabled": True}, "training": {"epochs": 5}})
    one = AblationPlan(bn_only, BASELINE, ["bn"], list(range(8)), adaptive=True,
                       interactions=0)  # each view's variant is the other's control: 2 configs
    assert "6 to train before the path; adaptive seeds may add up to 10 more" in describe_plan(
        one, None, "s", optuna.storages.InMemoryStorage())


def test_stored_runs_and_the_search_trials_speed_give_an_eta(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url)
    search = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    search.add_trial(finished(0, seconds_per_epoch=120.0))
    plan = AblationPlan(REFERENCE, BASELINE, COMPONENTS, [0, 1, 2])
    store = OptunaRunStore(storage, "s", url)
    for seed in (0, 1, 2):
        config = REFERENCE.replace(seed=seed)
        assert store.claim(config.digest(), config=config, view="leave-one-out", component="all")
        store.put(config.digest(), 0.9, config=config, view="leave-one-out", component="all")
    fast_runs = OptunaRunStore(make_storage(url), "other", url)  # no finished run of its own
    assert seconds_per_run(fast_runs, "s", storage, plan) == 600.0  # 120 s/epoch x 5 epochs
    store_runs = seconds_per_run(store, "s", storage, plan)
    assert store_runs is not None and store_runs < 60  # its own runs' durations come first
    for number, seconds in enumerate((1000.0, 1000.0, 1200.0, 1200.0), start=10):
        store.study.add_trial(finished(number, seconds=seconds, run=f"elsewhere-{number}"))
    assert seconds_per_run(store, "s", storage, plan) == 1000.0  # the median of 7 durations
    text = describe_plan(plan, store, "s", storage)
    assert "24 distinct runs known now, 3 of them stored (7 runs already stored in all): " \
           "21 to train" in text
    assert "about 1000 s per run (measured in this study): ETA 5.8 h before the path, at most " \
           "7.5 h with it" in text


def test_the_eta_counts_a_fused_runs_share_of_its_groups_time_not_the_whole(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = make_storage(url)
    plan = AblationPlan(REFERENCE, BASELINE, COMPONENTS, [0, 1, 2])
    store = OptunaRunStore(storage, "s", url)
    for seed in (0, 1, 2):  # three seeds trained together in 900 s: 300 s each
        config = REFERENCE.replace(seed=seed)
        assert store.claim(config.digest(), config=config, view="leave-one-out", component="all")
    for seed in (0, 1, 2):
        config = REFERENCE.replace(seed=seed)
        store.put(config.digest(), 0.9, config=config, view="leave-one-out", component="all",
                  seconds=300.0)
    assert seconds_per_run(store, "s", storage, plan) == 300.0


def test_nothing_measured_gives_no_speed():
    plan = AblationPlan(REFERENCE, BASELINE, COMPONENTS, [0, 1, 2])
    storage = optuna.storages.InMemoryStorage()
    assert seconds_per_run(None, "absent", storage, plan) is None
    optuna.create_study(study_name="s", storage=storage).add_trial(finished(0))
    assert seconds_per_run(None, "s", storage, plan) is None  # no seconds_per_epoch stored
