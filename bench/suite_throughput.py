"""Generated cases per second: the suite's standard profile against schemathesis on the same emulator.

    python bench/suite_throughput.py [--examples 100] [--rounds 6] [--seed 1] [--drawing-ablation]

What is compared, case for case (a "case" is one generated friend_import request):

- suite, in-process: the standard profile's generated scenario (`generated-batches`, the only generated
  scenario; the standard profile's settings with --examples examples, shrinking on) against the embedded
  emulator, in-process through the ASGI bridge, no rate limit on either side (the embedded emulator has
  none and the client paces only remote targets). Per case it generates a body from openapi.yaml with
  schemathesis's strategy (through timconform.suite.drawing_schema's narrowed copy) plus invalid items
  from Hypothesis, takes fresh accounts (imported ahead, 100 per multiaccount_import),
  sends the friend_import, runs every response check of timconform.oracle.response, schemathesis's own
  response_schema_conformance, a prediction per item, a read-back (friend_get_list) and a one-way check
  (friend_check).
  The session is made as `timconform run` makes it: the embedded emulator's demo custom tags
  (timconform.target.EMBEDDED_CUSTOM_TAGS) are configured, so the generated batches carry CustomItem.
- suite, loopback: the same, against `timconform emulator --rate-limit off --custom-tags <the demo tags>`
  over 127.0.0.1 (client unpaced: qps=None), so the transport is the same as schemathesis's.
- schemathesis: `schemathesis run openapi.yaml --url http://127.0.0.1:PORT --include-operation-id friend_import
  --phases fuzzing --mode positive -n N --workers 1 --seed S` with a config file that fixes the query
  parameters to valid credentials (sdkappid, identifier, usersig, contenttype; random is generated), on the same
  served emulator. Its default check set (all 14 checks) runs on every case; the counts come from its NDJSON report.

Each runner is run once with 8 examples before the rounds (discarded), and the rounds alternate the order.
Time is the generation-and-checking phase: for the suite the scenario function (it includes loading
openapi.yaml into schemathesis's strategy); for schemathesis its own fuzzing-phase time from the report (its
process start and schema loading are excluded). Rounds use seeds S, S+1, ...; the summary pools every
round (all cases over all time) and also gives medians and the per-round ratios, because one seed's
cases can be much larger or smaller than another's. Items and body bytes per case are counted from the
bodies sent (the suite) and from the bodies schemathesis's report lists.

A fourth, informational row times the suite's generation alone: the same scenario, strategy and Hypothesis
settings with a test body that does nothing (no HTTP call, no check). --drawing-ablation prints only that
row, once from the published request schema, once per narrowing of timconform.suite.drawing_schema alone,
and once as shipped: what each narrowing saves.

Checks per case are counted as they are recorded: for the suite, every verdict (pass or fail) the recorder
gets during the scenario, plus recorded outcomes, divided by the cases; for schemathesis, every check
result its report lists for a case (a check that does not apply to a positive case is still listed as a
success there, so its count is generous).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


class CountingRecorder:
    """Wraps the run's Recorder and counts what is recorded (verdicts and outcomes)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.verdicts = 0
        self.failures = 0
        self.outcomes = 0

    def passed(self, rule_id: str) -> None:
        self.verdicts += 1
        self._inner.passed(rule_id)

    def failed(self, failure) -> None:
        self.verdicts += 1
        self.failures += 1
        self._inner.failed(failure)

    def outcome(self, rule_id: str, outcome_id: str) -> None:
        self.outcomes += 1
        self._inner.outcome(rule_id, outcome_id)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _session(examples: int, seed: int, base_url: str | None, recorder_wrapper=lambda r: r):
    """A Session as `timconform run` makes one: the standard profile (with ``examples``), the target's custom tags.

    In-process it is the embedded emulator with its demo custom tags; over loopback it is the served
    emulator, started with the same tags (``--custom-tags``), which the session is told of as
    TIMCONFORM_CUSTOM_TAGS would tell it.
    """
    from timconform import spec as spec_module
    from timconform.oracle.recorder import Recorder
    from timconform.report.redact import Redactor
    from timconform.suite.profiles import PROFILES
    from timconform.suite.session import Session
    from timconform.target import EMBEDDED_CUSTOM_TAGS, Client, Credentials, Target, resolve

    spec = spec_module.load()
    profile = PROFILES["standard"]
    if examples != profile.examples:
        profile = type(profile)(**{**profile.__dict__, "examples": examples})
    env = {"TIMCONFORM_SDKAPPID": str(c.SDKAPPID), "TIMCONFORM_IDENTIFIER": c.ADMIN,
           "TIMCONFORM_SECRET_KEY": c.DEMO_SECRET_KEY}
    if base_url is None:
        target, creds = resolve("emulator", spec, env)
    else:
        target, creds = Target("url", base_url, base_url), Credentials(c.SDKAPPID, c.ADMIN, c.DEMO_SECRET_KEY)
    client = Client(target, creds, spec, Redactor(creds.secret_key), qps=None)
    tags = target.custom_tags if target.custom_tags is not None else EMBEDDED_CUSTOM_TAGS
    return Session(spec, client, recorder_wrapper(Recorder(spec)), profile, seed, custom_tags=tags)


def suite_run(examples: int, seed: int, base_url: str | None) -> dict:
    """One run of the generated scenario with the standard profile; in-process when base_url is None."""
    from timconform.suite.scenarios.generated import generated_batches

    session = _session(examples, seed, base_url, CountingRecorder)
    recorder, client = session.recorder, session.client
    cases = items = body_bytes = 0
    send_import = session.send_import

    def counted(body, **call):
        nonlocal cases, items, body_bytes
        cases += 1
        items += len(body["AddFriendItem"])
        body_bytes += len(json.dumps(body, ensure_ascii=False).encode("utf-8"))
        return send_import(body, **call)

    session.send_import = counted
    started = time.perf_counter()
    try:
        generated_batches(session)
    finally:
        elapsed = time.perf_counter() - started
        client.close()
    return {"cases": cases, "seconds": elapsed, "cases_per_s": cases / elapsed, "calls": client.calls,
            "verdicts": recorder.verdicts, "failures": recorder.failures, "outcomes": recorder.outcomes,
            "checks_per_case": (recorder.verdicts + recorder.outcomes) / max(cases, 1),
            "items": items, "body_bytes": body_bytes}


def generation_only(examples: int, seed: int) -> dict:
    """The suite's generated scenario with a test body that does nothing: what generating the cases costs it."""
    from timconform.suite.generation import run_generated
    from timconform.suite.scenarios.generated import _strategy

    session = _session(examples, seed, None)
    cases = 0

    def nothing(session, value) -> None:
        nonlocal cases
        cases += 1

    started = time.perf_counter()
    try:
        run_generated(session, _strategy(session), nothing)
    finally:
        elapsed = time.perf_counter() - started
        session.client.close()
    return {"cases": cases, "seconds": elapsed, "cases_per_s": cases / elapsed, "calls": 0, "verdicts": 0,
            "failures": 0, "outcomes": 0, "checks_per_case": 0.0, "items": 0, "body_bytes": 0}


def schemathesis_run(examples: int, seed: int, base_url: str, sig: str, workdir: Path) -> dict:
    config = workdir / "schemathesis.toml"
    config.write_text("[parameters]\n" f'"query.sdkappid" = {c.SDKAPPID}\n' f'"query.identifier" = "{c.ADMIN}"\n'
                      f'"query.usersig" = "{sig}"\n' '"query.contenttype" = "json"\n')
    reports = workdir / f"st-{time.monotonic_ns()}"
    st = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    argv = [st, "--config-file", str(config), "run", str(c.ROOT / "openapi.yaml"), "--url", base_url,
            "--include-operation-id", "friend_import", "--phases", "fuzzing", "--mode", "positive",
            "-n", str(examples), "--workers", "1", "--seed", str(seed), "--report", "ndjson",
            "--report-dir", str(reports)]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=workdir)
    wall = time.perf_counter() - started
    files = glob.glob(str(reports / "*.ndjson"))
    if not files:
        raise SystemExit(f"schemathesis wrote no report: {proc.stdout[-800:]}")
    cases = checks = failures = items = body_bytes = 0
    phase_seconds = 0.0
    with open(files[0], encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if finished is None:
                continue
            phase_seconds += finished["elapsed_time"]
            recorder = finished["recorder"]
            cases += len(recorder["cases"])
            for node in recorder["cases"].values():
                body = node["value"].get("body")
                items += len(body.get("AddFriendItem", ())) if isinstance(body, dict) else 0
                body_bytes += len(json.dumps(body, ensure_ascii=False).encode("utf-8"))
            for results in recorder["checks"].values():
                checks += len(results)
                failures += sum(1 for r in results if r.get("status") != "success")
    return {"cases": cases, "seconds": phase_seconds, "wall_seconds": wall, "cases_per_s": cases / phase_seconds,
            "checks_per_case": checks / max(cases, 1), "failures": failures, "calls": cases, "exit": proc.returncode,
            "items": items, "body_bytes": body_bytes,
            "command": " ".join(argv).replace(sig, "<usersig>")}


# What timconform.suite.drawing_schema narrows, by field: (JSON path in the request schema) per name.
NARROWED = {"account names": [("properties", "From_Account"), ("$defs", "add_friend_item", "properties", "To_Account")],
            "custom tags": [("$defs", "custom_tag")],
            "CustomItem size": [("$defs", "add_friend_item", "properties", "CustomItem")],
            "batch size": [("properties", "AddFriendItem", "maxItems")]}


def _published_where(narrow, keep: set[str]):
    """``narrow`` (drawing_schema.narrow as shipped), except that the fields named in ``keep`` stay as published."""

    def variant(schema: dict, custom_tags, max_items) -> dict:
        out = narrow(schema, custom_tags, max_items)
        for name in keep:
            for path in NARROWED[name]:
                source, dest = schema, out
                for key in path[:-1]:
                    source, dest = source[key], dest[key]
                dest[path[-1]] = source[path[-1]]
        return out

    return variant


def drawing_ablation(examples: int, rounds: int, seed: int) -> None:
    """Generation alone, with each narrowing of drawing_schema undone in turn: what each one saves."""
    from timconform.suite import drawing_schema
    from timconform.suite.scenarios import generated

    narrow = drawing_schema.narrow
    variants = [("published schema (nothing narrowed)", set(NARROWED))]
    variants += [(f"only the {name} narrowed", set(NARROWED) - {name}) for name in NARROWED]
    variants += [("everything narrowed (as shipped)", set())]
    generation_only(8, 0)
    print("| drawing schema | bodies/s, pooled over seeds |")
    print("| --- | ---: |")
    try:
        for label, keep in variants:
            drawing_schema.narrow = _published_where(narrow, keep)
            drawing_schema.openapi_copy.cache_clear()
            generated._operation.cache_clear()
            runs = [generation_only(examples, seed + i) for i in range(rounds)]
            print(f"| {label} | {sum(r['cases'] for r in runs) / sum(r['seconds'] for r in runs):.1f} |", flush=True)
    finally:
        drawing_schema.narrow = narrow
        drawing_schema.openapi_copy.cache_clear()
        generated._operation.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drawing-ablation", action="store_true",
                        help="instead: generation alone with each narrowing of the drawing schema undone in turn")
    args = parser.parse_args()
    c.print_machine()
    if args.drawing_ablation:
        drawing_ablation(args.examples, args.rounds, args.seed)
        return
    sig = c.usersig()
    results: dict[str, list[dict]] = {"suite in-process": [], "suite loopback": [], "schemathesis loopback": [],
                                      "suite generation only (no test body)": []}
    with tempfile.TemporaryDirectory(prefix="timconform-bench-") as tmp:
        workdir = Path(tmp)
        port = c.free_port()
        from timconform.target import EMBEDDED_CUSTOM_TAGS

        argv = [c._timconform(), "emulator", "--port", str(port), "--rate-limit", "off", "--log-level", "warning",
                "--custom-tags", ",".join(EMBEDDED_CUSTOM_TAGS)]
        with c.server(argv, port, log=workdir / "emulator.log"):
            base_url = f"http://{c.LOOPBACK}:{port}"
            # Warm-up, discarded: the first run in this process pays imports and first-use caches.
            suite_run(8, 0, None)
            suite_run(8, 0, base_url)
            for round_no in range(1, args.rounds + 1):
                seed = args.seed + round_no - 1
                runs = [("suite in-process", lambda: suite_run(args.examples, seed, None)),
                        ("suite loopback", lambda: suite_run(args.examples, seed, base_url)),
                        ("schemathesis loopback", lambda: schemathesis_run(args.examples, seed, base_url, sig, workdir))]
                if round_no % 2 == 0:
                    runs.reverse()
                runs.append(("suite generation only (no test body)", lambda: generation_only(args.examples, seed)))
                for name, fn in runs:
                    r = fn()
                    results[name].append(r)
                    n = max(r["cases"], 1)
                    print(f"  round {round_no} seed {seed}  {name:<22} {r['cases']:>4} cases in {r['seconds']:6.2f} s = "
                          f"{r['cases_per_s']:6.1f} cases/s, {r['items'] / n:4.1f} items and {r['body_bytes'] / n:5.0f} "
                          f"bytes/case, {r['checks_per_case']:5.1f} checks/case, {r['calls'] / n:.1f} HTTP calls/case, "
                          f"{r['failures']} failed checks", flush=True)
    print()
    print("| runner | cases (per run) | cases/s, all rounds pooled | median cases/s | items per case | body bytes per case "
          "| checks per case | HTTP calls per case | failed checks |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    pooled, med = {}, {}
    for name, runs in results.items():
        cases = sum(r["cases"] for r in runs)
        pooled[name] = cases / sum(r["seconds"] for r in runs)
        med[name] = statistics.median(r["cases_per_s"] for r in runs)
        print(f"| {name} | {runs[0]['cases']} | {pooled[name]:.1f} | {med[name]:.1f} | "
              f"{sum(r['items'] for r in runs) / cases:.1f} | {sum(r['body_bytes'] for r in runs) / cases:.0f} | "
              f"{sum(r['checks_per_case'] * r['cases'] for r in runs) / cases:.1f} | "
              f"{sum(r['calls'] for r in runs) / cases:.1f} | {sum(r['failures'] for r in runs)} |")
    st = "schemathesis loopback"
    for name in ("suite in-process", "suite loopback"):
        per_round = [a["cases_per_s"] / b["cases_per_s"] for a, b in zip(results[name], results[st])]
        print(f"{name} / schemathesis: {pooled[name] / pooled[st]:.2f}x pooled, {med[name] / med[st]:.2f}x medians; "
              f"per round (same seed) {min(per_round):.2f}x to {max(per_round):.2f}x")
    print("schemathesis command: " + results[st][0]["command"])
    out = c.BENCH / ".work" / "suite_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": c.machine(), "results": results}, indent=1))
    print(f"raw results: {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
