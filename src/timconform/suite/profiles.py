"""Profiles: how much the suite does, and how careful it is with the target.

quick: seconds, a CI smoke test that still exercises every documented rule once.
standard: the default; more generated examples.
full: many more examples and every open rule.
staging: safe on a shared tenant: a fixed, namespaced pool of accounts reused across runs (accounts
cannot be deleted on paid apps, 71000, and Free Trial apps hold at most 100, 70398), a call budget,
every friendship removed afterwards, and rules needing more accounts than the pool Disabled.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int  # Hypothesis examples per generated scenario
    large: bool  # run the 1000/1001-item batches and the 3000-friend limit
    open_rules: bool  # probe every open question
    budget: int | None  # most calls the run may make (None: no budget)
    pool: int | None = None  # staging: size of the reused account pool
    shrink: bool = True  # shrink failing generated examples to a minimal one (quick skips it: seconds matter)


PROFILES = {
    "quick": Profile("quick", examples=8, large=True, open_rules=True, budget=None, shrink=False),
    "standard": Profile("standard", examples=60, large=True, open_rules=True, budget=None),
    "full": Profile("full", examples=300, large=True, open_rules=True, budget=None),
    "staging": Profile("staging", examples=20, large=False, open_rules=True, budget=2000, pool=60),
}
