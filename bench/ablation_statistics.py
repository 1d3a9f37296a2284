"""The ablation's statistics on synthetic objectives with known truths, at more repetitions
than the tests run: family-wise false-positive rate, power for 4-noise-sd effects, seeds used.

    python bench/ablation_statistics.py --repetitions 1000

Ten components (three with a true effect of 4 noise sd, seven with none), a seed effect
shared by all runs of a seed, and Student-t noise (5 and 3 degrees of freedom: heavy
tails; inf: Gaussian). Fixed: the default 3 seeds. Adaptive: `--seeds auto` (3 to 10
seeds, negligible below 2 noise sd). "paired only" is the old per-comparison paired test
with Holm, for comparison. Rates are per view (leave-one-out and add-one-in).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "tests" / "ablation")]

from common import header  # noqa: E402
from test_blocked_stats import DEFAULT_SEEDS, REAL, SIGMA, measure, plan, rates  # noqa: E402

import search.ablation.blocked_stats as blocked_stats  # noqa: E402


def _paired_only(p, effects, repetitions, df):
    saved = blocked_stats._pooled
    blocked_stats._pooled = lambda *args, **kw: None  # every comparison on its own pairs
    try:
        return rates(p, effects, repetitions, df)
    finally:
        blocked_stats._pooled = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=1000)
    parser.add_argument("--unequal-only", action="store_true",
                        help="only the rows where one variant is noisier than the others")
    parser.add_argument("--diagnose", type=float, metavar="FACTOR",
                        help="only count add-one-in's false positives, by component and test, "
                             "with zoom's runs FACTOR times noisier (3 seeds)")
    args = parser.parse_args(argv)
    n = args.repetitions
    if args.diagnose:
        print(_diagnosis(n, args.diagnose))
        return 0
    print(header("Ablation statistics on synthetic truths"))
    print(f"{n} repetitions per cell (power: {n // 2}); 10 components, 3 real (4 noise sd)\n")
    print("| noise | design | family-wise false positives | power (4 sd) | seeds per variant |")
    print("|---|---|---|---|---|")
    designs = [("fixed 3 seeds, pooled", plan(DEFAULT_SEEDS), rates),
               ("fixed 3 seeds, paired only", plan(DEFAULT_SEEDS), _paired_only),
               ("adaptive 3-10 seeds", plan(10, adaptive=True, min_effect=2 * SIGMA), rates)]
    for df in () if args.unequal_only else (np.inf, 5, 3):
        for name, p, measured in designs:
            fwer = measured(p, {}, n, df)[0]
            _, power, seeds = measured(p, REAL, n // 2, df)
            noise = "Gaussian" if df == np.inf else f"t, {df} df"
            print(f"| {noise} | {name} | {fwer:.3f} | {power:.3f} | {seeds:.2f} |", flush=True)
    for seeds in (DEFAULT_SEEDS, 5):  # the pooled test assumes equal noise: how far off is it?
        for factor in (3, 5):
            for view, fwer in _per_view(plan(seeds), n, {"zoom": factor}).items():
                print(f"| Gaussian, zoom's runs {factor}x noisier, {view} | fixed {seeds} seeds, "
                      f"pooled | {fwer:.3f} | – | {seeds:.2f} |", flush=True)
    return 0


UNEQUAL_VIEWS = {"add-one-in": "add-one-in (zoom's variant alone noisier)",
                 "leave-one-out": "leave-one-out (all but zoom's variant noisier)"}


def _per_view(p, repetitions: int, noisier: dict[str, float]) -> dict[str, float]:
    """Each view's family-wise false-positive rate, all effects null, Gaussian noise: a
    noisier component makes one variant noisy in add-one-in, every other run in leave-one-out."""
    false = dict.fromkeys(UNEQUAL_VIEWS, 0)
    for repetition in range(repetitions):
        for name, view in measure(p, {}, repetition, np.inf, noisier).items():
            false[name] += any(e.verdict in ("helps", "hurts") for e in view)
    return {UNEQUAL_VIEWS[name]: count / repetitions for name, count in false.items()}


def _diagnosis(repetitions: int, factor: float) -> str:
    """Where add-one-in's false positives come from when zoom's runs are ``factor`` times
    noisier: how many families had one, and each false call by component and by test
    (pooled, or paired once pooling was abandoned)."""
    families, calls = 0, Counter()
    for repetition in range(repetitions):
        view = measure(plan(DEFAULT_SEEDS), {}, repetition, np.inf, {"zoom": factor})["add-one-in"]
        false = [e for e in view if e.verdict in ("helps", "hurts")]
        families += bool(false)
        calls.update(("zoom" if e.component == "zoom" else "another component", e.effect.method)
                     for e in false)
    rows = "\n".join(f"| {who} | {method} | {count} |" for (who, method), count in sorted(calls.items()))
    return (f"add-one-in, zoom's runs {factor:g}x noisier, {DEFAULT_SEEDS} seeds, {repetitions} "
            f"repetitions: {families} families with a false positive\n\n"
            f"| component | test | false calls |\n|---|---|---|\n{rows}")


if __name__ == "__main__":
    raise SystemExit(main())
