"""The suite's client at its ceiling against the emulator enforcing the documented 200 calls/s.

    python bench/rate_limit_precision.py [--seconds 10] [--rounds 3] [--qps 200]

The emulator runs as `timconform emulator --rate-limit 200` (a sliding one-second window per SDKAppID and
API) over 127.0.0.1, with From_Account u0000 and To_Account f0000 preloaded and
`OPEN-EXISTING-FRIEND: overwrite` pinned, so every call is a real 1-item import. The load is
`timconform.target.Client(qps=200)` against that URL: its client-side pacer (a sliding window of at most
200 calls in any second) with a fresh `random`, a UserSig and a TCP_NODELAY connection, as the suite uses it,
one call after the other. Rate-limit answers are not retried (`retry_rate_limit=False`) so every one
is counted. A round lasts --seconds; calls/s is the number of answers received within the round divided
by its length. Goal: at least 95% of the ceiling and no rate-limit answer.

Each round runs the client as shipped (its pacer keeps a window of one second plus
timconform.target.PACER_MARGIN, 10 ms), then, for comparison, the same client with the pacer's margin set
to each of --margins (default 0: the pacer before issue 7, which let a call go out exactly one second after
the call 200 before it, so that any extra delay of that earlier call on its way to the server, a
connection set-up, a scheduling hiccup, put both in the server's window).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

WORK = c.BENCH / ".work"


def one_round(base_url: str, qps: float, seconds: float, margin: float | None = None) -> dict:
    from timconform import spec as spec_module
    from timconform.report.redact import Redactor
    from timconform.target import Client, Credentials, Pacer, Target

    spec = spec_module.load()
    creds = Credentials(c.SDKAPPID, c.ADMIN, c.DEMO_SECRET_KEY)
    client = Client(Target("url", base_url, base_url), creds, spec, Redactor(creds.secret_key), qps=qps)
    if margin is not None:
        client._pacer = Pacer(qps, margin=margin)
    rate_codes = {code.code for code in spec.codes.values() if code.klass == "rate-limit"}
    body = {"From_Account": "u0000", "AddFriendItem": [{"To_Account": "f0000", "AddSource": "AddSource_Type_Bench",
                                                        "AddTime": 1420000001}]}
    ok = limited = other = 0
    stamps: list[float] = []
    started = time.monotonic()
    deadline = started + seconds
    try:
        while time.monotonic() < deadline and len(stamps) < int(qps * seconds * 2):
            reply = client.call("friend_import", body, retry_rate_limit=False)
            done = time.monotonic()
            if done > deadline:
                break
            stamps.append(done)
            if reply.error_code in rate_codes:
                limited += 1
            elif reply.ok and reply.body["ResultItem"][0]["ResultCode"] == 0:
                ok += 1
            else:
                other += 1
    finally:
        client.close()
    busiest, window = 0, deque()
    for t in stamps:
        window.append(t)
        while window and t - window[0] >= 1.0:
            window.popleft()
        busiest = max(busiest, len(window))
    answered = ok + limited + other
    return {"calls": answered, "ok": ok, "rate_limited": limited, "other": other, "seconds": seconds,
            "calls_per_s": answered / seconds, "ok_per_s": ok / seconds, "share_of_ceiling": ok / seconds / qps,
            "busiest_1s_window": busiest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--qps", type=int, default=200)
    parser.add_argument("--margins", default="0", help="comma-separated pacer margins in ms to compare ('' for none)")
    args = parser.parse_args()
    args.seconds = max(2.0, min(args.seconds, 60.0))
    margins = [float(m) for m in args.margins.split(",") if m.strip()]
    c.print_machine()
    WORK.mkdir(exist_ok=True)
    accounts = WORK / "rate_accounts.json"
    accounts.write_text(json.dumps({"accounts": ["u0000", "f0000"]}))
    behaviour = WORK / "behaviour.yaml"
    behaviour.write_text("OPEN-EXISTING-FRIEND: overwrite\n")
    port = c.free_port()
    argv = [c._timconform(), "emulator", "--port", str(port), "--rate-limit", str(args.qps), "--accounts",
            str(accounts), "--behaviour", str(behaviour), "--log-level", "warning"]
    print("server: " + " ".join(argv))
    print(f"client: timconform.target.Client(Target('url', ...), qps={args.qps}), friend_import 1 item, "
          f"retry_rate_limit=False, {args.seconds:g} s per round")
    print("note: a sliding-window pacer sends each window's calls as a burst, so a round of S seconds holds about S "
          "windows; over a long run a pacer with margin m sends at most qps / (1 + m) calls/s (the last column)")
    from timconform.target import PACER_MARGIN

    variants = [(f"Client as shipped ({PACER_MARGIN * 1000:g} ms margin)", None)] + [
        (f"the same, pacer margin {m:g} ms", m / 1000) for m in margins]
    runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
    with c.server(argv, port, log=WORK / "rate_emulator.log"):
        base_url = f"http://{c.LOOPBACK}:{port}"
        for round_no in range(1, args.rounds + 1):
            for name, margin in variants:
                r = one_round(base_url, args.qps, args.seconds, margin)
                runs[name].append(r)
                print(f"  round {round_no} {name:<36}: {r['calls']} answers in {r['seconds']:g} s = "
                      f"{r['calls_per_s']:.1f} calls/s ({100 * r['share_of_ceiling']:.1f}% of {args.qps}/s imported), "
                      f"{r['rate_limited']} rate-limit answers, busiest 1 s window {r['busiest_1s_window']}", flush=True)
                time.sleep(1.1)  # let the server's window empty
    print()
    print("| client | round | calls/s | share of ceiling | rate-limit answers | long-run bound |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (name, margin), rs in zip(variants, runs.values()):
        bound = args.qps / (1 + (PACER_MARGIN if margin is None else margin))
        for i, r in enumerate(rs, 1):
            print(f"| {name} | {i} | {r['calls_per_s']:.1f} | {100 * r['share_of_ceiling']:.1f}% | {r['rate_limited']} | "
                  f"{bound:.1f}/s ({100 * bound / args.qps:.1f}%) |")
    print()
    for name, rs in runs.items():
        share = statistics.median(r["share_of_ceiling"] for r in rs)
        limited = sum(r["rate_limited"] for r in rs)
        print(f"{name}: median share of the ceiling {100 * share:.1f}%, rate-limit answers in {len(rs)} rounds: "
              f"{limited}; goal (>= 95%, none) {'holds' if share >= 0.95 and not limited else 'does not hold'}")
    (WORK / "rate_limit_precision.json").write_text(json.dumps({"machine": c.machine(), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
