"""The model-checked simulation (tests/simulation/driver.py) in CI: a few hundred seeded
sequences per database, every step compared with the plain-Python model. The big campaign
is ``bench/simulate.py --sequences 10000 --seed N``."""

import os

import pytest

from tests.simulation.driver import run_sequences

SEQUENCES = int(os.environ.get("DISTWEB_SIMULATION_SEQUENCES", "200"))
STEPS = int(os.environ.get("DISTWEB_SIMULATION_STEPS", "40"))
CHUNK = 25


@pytest.mark.parametrize("first", range(0, SEQUENCES, CHUNK))
def test_random_money_sequences_match_the_model(app_ctx, first):
    outcomes = run_sequences(range(first, min(first + CHUNK, SEQUENCES)), max_steps=STEPS)
    failed = [(o.seed, o.violations[0], o.trail[-6:]) for o in outcomes if o.violations]
    assert not failed, "\n\n".join(f"seed {seed}: {v}\n  last steps: {trail}" for seed, v, trail in failed)
    assert sum(o.operations for o in outcomes) > 5 * len(outcomes)
