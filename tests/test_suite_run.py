"""The conformance suite against the embedded emulator, loopback servers and broken fakes (issue #4)."""

import pytest

from tests.suite_support import CREDENTIALS, TAGS, StatusOnInvalidJson, bad_gateway, free_port
from timconform.emulator import Emulator, EmulatorConfig
from timconform.emulator.serve import start_in_thread
from timconform.report.model import Verdict
from timconform.suite.runner import RunConfig, run

# Rules that cannot apply to an emulator certified from outside, and why (the run must give the reason).
NOT_APPLICABLE = {
    "FI-HTTPS-ONLY",  # the embedded emulator is addressed over plain HTTP, which the rule exempts
    "SUPPORT-ACCOUNT-DELETE-CASCADE",  # only a Free Trial app deletes accounts; the default emulator is a paid one
}


def unobservable(spec) -> set[str]:
    return {rule_id for rule_id, rule in spec.rules.items() if rule.unobservable}


def verdicts(result) -> dict[str, Verdict]:
    return {r.rule_id: r.verdict for r in result.rules}


@pytest.fixture(scope="module")
def standard_run():
    result, _ = run(RunConfig(profile="standard", seed=20261125, env=dict(TAGS)))
    return result


def test_the_embedded_emulator_passes_every_documented_and_inferred_rule(standard_run):
    bad = {r.rule_id: (r.verdict.label, r.reason, [e.message for e in r.evidence])
           for r in standard_run.rules if r.verdict not in (Verdict.PASS, Verdict.SKIP)}
    assert bad == {}
    assert standard_run.exit_code() == 0


def test_client_rules_are_not_part_of_a_target_s_report(standard_run, spec):
    reported = {r.rule_id for r in standard_run.rules}
    assert reported and not any(rule_id.startswith("CL-") for rule_id in reported)
    assert reported == {r for r in spec.rules if not r.startswith("CL-")}


def test_skips_are_only_rules_that_cannot_apply_and_say_why(standard_run, spec):
    skipped = {r.rule_id: r.reason for r in standard_run.rules
               if r.verdict == Verdict.SKIP and r.strength in ("documented", "inferred")}
    assert set(skipped) <= NOT_APPLICABLE | unobservable(spec)
    assert all(reason for reason in skipped.values())
    assert all(skipped[r].startswith("unobservable: ") for r in unobservable(spec) if r in skipped)


def test_open_rules_record_the_emulator_s_defaults(standard_run, spec):
    for rule_id, outcome in standard_run.behaviour_profile.items():
        assert outcome == spec.rules[rule_id].default, rule_id


def test_a_loopback_emulator_gets_the_same_verdicts_as_the_embedded_one():
    embedded, _ = run(RunConfig(profile="quick", seed=7, env=dict(TAGS)))
    with start_in_thread(Emulator(EmulatorConfig(custom_tags=("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY")))) as server:
        loopback, _ = run(RunConfig(target=server.base_url, profile="quick", seed=7, rate_limit=200,
                                    env={**CREDENTIALS, **TAGS}))
    assert verdicts(loopback) == verdicts(embedded)
    assert loopback.meta["target_kind"] == "url"


def test_a_port_with_nothing_listening_gives_errors_and_exit_3():
    result, _ = run(RunConfig(target=f"http://127.0.0.1:{free_port()}", profile="quick", seed=1, env=dict(CREDENTIALS)))
    found = set(verdicts(result).values())
    assert Verdict.ERROR in found and Verdict.FAIL not in found
    assert result.exit_code() == 3


def test_a_target_answering_502_to_everything_gives_errors_and_exit_3():
    result, _ = run(RunConfig(app=bad_gateway, profile="quick", seed=1, env=dict(CREDENTIALS)))
    found = set(verdicts(result).values())
    assert Verdict.ERROR in found and Verdict.FAIL not in found
    assert result.exit_code() == 3


@pytest.mark.parametrize("status", [400, 500])
def test_an_http_error_for_invalid_json_is_a_fail_of_the_http_200_rule(status):
    app = StatusOnInvalidJson(Emulator(EmulatorConfig(rate_limit=None)), status)
    result, _ = run(RunConfig(app=app, profile="quick", seed=1, env=dict(CREDENTIALS)))
    assert verdicts(result)["FI-HTTP-200"] == Verdict.FAIL
    assert result.exit_code() == 1


def test_the_quick_profile_has_no_fail_or_warn_over_20_seeds():
    for seed in range(20):
        result, _ = run(RunConfig(profile="quick", seed=seed, env=dict(TAGS)))
        bad = {r.rule_id: [e.message for e in r.evidence] for r in result.rules
               if r.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR)}
        assert bad == {}, f"seed {seed}"


def test_strict_turns_a_broken_inferred_rule_into_a_fail():
    class OutOfOrder:
        """Reverses ResultItem: breaks only the inferred FI-RESULTITEM-ORDER."""

        def __init__(self):
            self.emulator = Emulator(EmulatorConfig(rate_limit=None))

        async def __call__(self, scope, receive, send):
            async def reversing(message):
                if message["type"] == "http.response.body" and message.get("body"):
                    import json

                    body = json.loads(message["body"])
                    if isinstance(body, dict) and isinstance(body.get("ResultItem"), list):
                        body["ResultItem"].reverse()
                        message = {**message, "body": json.dumps(body).encode()}
                await send(message)

            if scope["type"] == "http" and scope["path"] == "/v4/sns/friend_import":
                # the body length changes: drop content-length by re-sending headers lazily
                async def strip(message):
                    if message["type"] == "http.response.start":
                        message = {**message, "headers": [h for h in message["headers"] if h[0] != b"content-length"]}
                    await reversing(message)

                return await self.emulator(scope, receive, strip)
            return await self.emulator(scope, receive, send)

    lenient, _ = run(RunConfig(app=OutOfOrder(), profile="quick", seed=3, env=dict(CREDENTIALS)))
    strict, _ = run(RunConfig(app=OutOfOrder(), profile="quick", seed=3, strict=True, env=dict(CREDENTIALS)))
    assert verdicts(lenient)["FI-RESULTITEM-ORDER"] == Verdict.WARN and lenient.exit_code() == 0
    assert verdicts(strict)["FI-RESULTITEM-ORDER"] == Verdict.FAIL and strict.exit_code() == 1


def test_rules_and_skip_rules_select_what_is_checked():
    result, _ = run(RunConfig(profile="quick", seed=1, rules=("FI-HTTP-200", "FI-ROUND-TRIP"), env=dict(TAGS)))
    found = verdicts(result)
    assert found["FI-HTTP-200"] == Verdict.PASS and found["FI-ROUND-TRIP"] == Verdict.PASS
    assert {v for k, v in found.items() if k not in ("FI-HTTP-200", "FI-ROUND-TRIP")} == {Verdict.DISABLED}
    skipped, _ = run(RunConfig(profile="quick", seed=1, skip_rules=("FI-HTTP-200",), env=dict(TAGS)))
    assert verdicts(skipped)["FI-HTTP-200"] == Verdict.DISABLED


def test_schemathesis_sanitises_the_usersig_in_its_curl_commands():
    from timconform.suite.scenarios.generated import _schemathesis_config

    import schemathesis

    from timconform import spec as spec_module

    schema = schemathesis.openapi.from_path(str(spec_module.load().openapi_path), config=_schemathesis_config())
    case = schema["/v4/sns/friend_import"]["POST"].Case(
        query={"sdkappid": 1, "identifier": "a", "usersig": "SECRET-SIG", "random": 1, "contenttype": "json"},
        body={"From_Account": "a", "AddFriendItem": []})
    curl = case.as_curl_command(base_url="http://emulator")
    assert "SECRET-SIG" not in curl and "usersig=" in curl


class Slowed:
    """The emulator behind a delay on every call: a machine too loaded to send 200 calls within one second."""

    def __init__(self, delay: float) -> None:
        self.emulator = Emulator(EmulatorConfig(custom_tags=("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY"),
                                                rate_limit=None))
        self.delay = delay

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            import asyncio

            await asyncio.sleep(self.delay)
        await self.emulator(scope, receive, send)


def test_the_rate_limit_burst_on_an_in_process_emulator_does_not_depend_on_the_machine_s_speed():
    """260 calls at 0.15 s each from 32 threads take about 1.2 s: in real time no more than the limit lands
    within one second, yet the emulator's held clock counts them in one window and the rules are judged."""
    rules = ("FI-RATE-LIMIT-200", "SUPPORT-RATE-LIMIT-100")
    result, _ = run(RunConfig(app=Slowed(0.15), profile="quick", seed=1, rules=rules, env={**CREDENTIALS, **TAGS}))
    assert {r.rule_id: r.verdict for r in result.rules if r.rule_id in rules} == dict.fromkeys(rules, Verdict.PASS), \
        {r.rule_id: r.reason for r in result.rules if r.rule_id in rules}
