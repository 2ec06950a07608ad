"""The gallery: every faulty emulator the conformance suite must reject, each with one defect.

The mutants live in three modules by where the defect sits (envelope: the answer's shape; state: limits,
checks and writes of the validator and the model; gateway: HTTP, decoding, query, UserSig, admin, rate;
support: near misses, the companion operations, UserSig formats, concurrency, sizes);
importing them registers them here in that order.
"""

from __future__ import annotations

from tests.mutants import envelope, gateway, state, support  # noqa: F401 - importing registers the mutants
from tests.mutants.base import REGISTRY, Mutant, fresh_emulator

GALLERY: tuple[Mutant, ...] = tuple(REGISTRY)
BY_NAME: dict[str, Mutant] = {m.name: m for m in GALLERY}

__all__ = ["BY_NAME", "GALLERY", "Mutant", "fresh_emulator"]
