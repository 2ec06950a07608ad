"""Scenarios: each a function of a Session, registered with the rule ids it exercises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ALL_PROFILES = frozenset({"quick", "standard", "full", "staging"})


@dataclass(frozen=True)
class Scenario:
    name: str
    rules: tuple[str, ...]
    fn: Callable
    profiles: frozenset[str]
    # "large" (1000+ items, 3000 friends), "custom-tags", "rate-burst", "creates-accounts", "open-rules" (a
    # profile that probes open questions), "full" (the full profile only), "https" (a target addressed over HTTPS)
    needs: frozenset[str]
    doc: str
    replay: str | None = None  # why its exchanges cannot be replayed one after another (timing, concurrency)


SCENARIOS: list[Scenario] = []


def scenario(name: str, *, rules: tuple[str, ...] | list[str], profiles=ALL_PROFILES, needs=(), replay=None):
    """Register a scenario under ``name``; ``rules`` are the catalogue ids its checks may record."""

    def register(fn: Callable) -> Callable:
        SCENARIOS.append(Scenario(name, tuple(rules), fn, frozenset(profiles), frozenset(needs),
                                  (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name, replay))
        return fn

    return register


ORDER = ("samples", "generated", "limits", "stateful", "accounts", "auth", "malformed", "open_questions",
         "support", "ratelimit")


def load_all() -> list[Scenario]:
    """Every scenario of timconform.suite.scenarios, the modules in ORDER first, then any others by name."""
    import importlib
    import pkgutil

    from timconform.suite import scenarios

    found = {m.name for m in pkgutil.iter_modules(scenarios.__path__) if m.name != "common"}
    for name in [n for n in ORDER if n in found] + sorted(found - set(ORDER)):
        importlib.import_module(f"timconform.suite.scenarios.{name}")
    return list(SCENARIOS)
