"""The suite's power (issue 5): every faulty emulator of the gallery is rejected for the rule it breaks.

Each mutant is certified in-process with the quick profile and --strict, and each rule it declares must be
among the run's Fail verdicts: a run that fails for some other reason does not count as a kill. The
faithful emulator, run the same way, must come out clean. A quick run takes 1-2 s on 2 cores (the
quick profile does not shrink, and the rate-limit burst needs no settling in-process), so the whole file
takes about a minute and a half.
"""

from __future__ import annotations

import pytest

from tests.mutants.gallery import GALLERY, Mutant, fresh_emulator
from tests.suite_support import CREDENTIALS, TAGS
from timconform import spec as spec_module
from timconform.emulator import Emulator
from timconform.report.model import Verdict
from timconform.suite.runner import RunConfig, run

SEED = 20261125
ENV = {**CREDENTIALS, **TAGS}
MIN_MUTANTS = 32
# Mutants the suite cannot kill yet, and why: each is a scenario's blind spot, reported to the scenario's
# owner. strict xfail: once the suite kills one, the test fails until its entry here is removed.
KNOWN_BLIND_SPOTS: dict[str, str] = {}  # mutant name -> why the suite cannot see it (none at present)


def quick_strict(app):
    result, _ = run(RunConfig(app=app, profile="quick", strict=True, seed=SEED, env=dict(ENV)))
    return result


def test_the_gallery_has_enough_distinct_mutants_each_naming_existing_rules():
    rules = spec_module.load().rules
    names = [m.name for m in GALLERY]
    assert len(GALLERY) >= MIN_MUTANTS
    assert len(set(names)) == len(names), "mutant names must be unique"
    for mutant in GALLERY:
        assert mutant.rules, f"{mutant.name} declares no rule"
        unknown = [r for r in mutant.rules if r not in rules]
        assert not unknown, f"{mutant.name} declares rules not in schemas/rules.yaml: {unknown}"
        assert mutant.defect and mutant.defect != mutant.name, f"{mutant.name} does not say what its defect is"


@pytest.mark.parametrize("mutant", GALLERY, ids=lambda m: m.name)
def test_each_factory_builds_a_fresh_asgi_app_that_reaches_its_emulator(mutant: Mutant):
    first, second = mutant.factory(), mutant.factory()
    assert callable(first)
    emulator = getattr(first, "emulator", first)
    assert isinstance(emulator, Emulator)
    assert getattr(second, "emulator", second) is not emulator, "each call must build its own emulator"


def test_the_faithful_emulator_passes_the_quick_profile_strictly():
    for mutant in GALLERY:  # building every mutant first shows that none leaks into a fresh emulator
        mutant.factory()
    result = quick_strict(fresh_emulator())
    bad = {r.rule_id: (r.verdict.label, r.reason, [e.message for e in r.evidence]) for r in result.rules
           if r.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)}
    assert bad == {}
    assert result.exit_code() == 0


def _known(mutant: Mutant):
    reason = KNOWN_BLIND_SPOTS.get(mutant.name)
    return pytest.param(mutant, id=mutant.name, marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else [])


def test_known_blind_spots_name_mutants_of_the_gallery():
    assert set(KNOWN_BLIND_SPOTS) <= {m.name for m in GALLERY}


@pytest.mark.parametrize("mutant", [_known(m) for m in GALLERY])
def test_the_suite_kills_the_mutant_for_the_rules_it_breaks(mutant: Mutant):
    result = quick_strict(mutant.factory())
    verdicts = {r.rule_id: r for r in result.rules}
    missing = {rule: (verdicts[rule].verdict.label, verdicts[rule].reason) for rule in mutant.rules
               if verdicts[rule].verdict != Verdict.FAIL}
    failed = sorted(r.rule_id for r in result.rules if r.verdict == Verdict.FAIL)
    assert not missing, (f"{mutant.name} ({mutant.defect}) survived: its declared rules got {missing}; "
                         f"the run failed {failed}")
    assert result.exit_code() == 1
