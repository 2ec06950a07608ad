"""Emulator throughput over loopback, side by side with the bare-endpoint ceiling and Stoplight Prism.

    python bench/emulator_throughput.py [--sizes 1,100,1000] [--rounds 2] [--duration 5] [--no-prism]

For each batch size (items per friend_import) and each round, every server runs alone on the box, one
after the other (the order is reversed in even rounds, so drift does not favour one server), and
`wrk -t1 -c16 -d5s` POSTs the same body with the five query parameters and a valid UserSig:

- emulator: `timconform emulator --rate-limit off --accounts A --behaviour B` (uvicorn, uvloop + httptools);
  A preloads From_Account u0000 and To_Accounts f0000..f0999, B pins `OPEN-EXISTING-FRIEND: overwrite`,
  so every call is a real, successful import of every item (ResultCode 0, written to the friend table);
- bare: bench/bare_app.py, a Starlette endpoint under the same uvicorn settings that reads the body and
  returns, as a fixed body, the emulator's own answer for that batch size (the same bytes on the wire);
- prism: `prism mock openapi.yaml` (npm @stoplight/prism-cli in bench/.node), which validates the request
  against openapi.yaml and answers the spec's static example; once with its default logging (stdout to
  /dev/null) and once with `-v silent`; the ratio is taken against the faster of the two.

Before each measured run a 2 s wrk warm-up (--warmup) runs and is discarded, and one request is checked by hand:
HTTP 200, ActionStatus OK (and every ResultCode 0 for the emulator). wrk runs in its own process (C + Lua).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

WORK = c.BENCH / ".work"
ADD_SOURCE = "AddSource_Type_Bench"
ADD_TIME = 1420000001


def prepare(sizes: list[int]) -> dict[str, Path]:
    WORK.mkdir(exist_ok=True)
    largest = max(sizes + [1000])
    accounts = WORK / "accounts.json"
    accounts.write_text(json.dumps({"accounts": ["u0000"] + [f"f{i:04d}" for i in range(largest)]}))
    behaviour = WORK / "behaviour.yaml"
    behaviour.write_text("OPEN-EXISTING-FRIEND: overwrite\n")
    files = {"accounts": accounts, "behaviour": behaviour}
    for size in sizes:
        body = {"From_Account": "u0000", "AddFriendItem": [
            {"To_Account": f"f{i:04d}", "AddSource": ADD_SOURCE, "AddTime": ADD_TIME} for i in range(size)]}
        path = WORK / f"body_{size}.json"
        path.write_text(json.dumps(body, separators=(",", ":")))
        files[f"body_{size}"] = path
    return files


def check_answer(name: str, status: int, raw: bytes, size: int, *, per_item: bool) -> None:
    if status != 200:
        raise SystemExit(f"{name}: HTTP {status}: {raw[:300]!r}")
    body = json.loads(raw)
    if body.get("ActionStatus") != "OK":
        raise SystemExit(f"{name}: not OK: {raw[:300]!r}")
    if per_item:
        codes = [i["ResultCode"] for i in body.get("ResultItem", ())]
        if len(codes) != size or any(codes):
            raise SystemExit(f"{name}: expected {size} items with ResultCode 0, got {codes[:5]}...")


def measure(name: str, argv: list[str], port: int, body: Path, size: int, sig: str, args, *, per_item: bool,
            startup: float = 60.0, env: dict[str, str] | None = None) -> dict:
    url = f"http://{c.LOOPBACK}:{port}/v4/sns/friend_import?{c.query(sig)}"
    with c.server(argv, port, log=WORK / f"{name}.log", startup_timeout=startup, env=env):
        for _ in range(2):
            status, raw = c.post(url, body.read_bytes())
            check_answer(name, status, raw, size, per_item=per_item)
        c.run_wrk(url, body, duration=args.warmup)  # warm-up, discarded (Node's JIT needs a moment)
        result = c.run_wrk(url, body, duration=args.duration)
        status, raw = c.post(url, body.read_bytes())
        check_answer(name, status, raw, size, per_item=per_item)
    if result["non2xx"] or result["socket_errors"]:
        print(f"  warning: {name}: {result['non2xx']} non-2xx answers, {result['socket_errors']} socket errors")
    return result


def emulator_answer(files: dict[str, Path], size: int, sig: str) -> Path:
    """The emulator's answer for this size, saved for the bare endpoint to return verbatim."""
    port = c.free_port()
    argv = emulator_argv(files, port)
    with c.server(argv, port, log=WORK / "emulator.log"):
        status, raw = c.post(f"http://{c.LOOPBACK}:{port}/v4/sns/friend_import?{c.query(sig)}",
                             files[f"body_{size}"].read_bytes())
    check_answer("emulator", status, raw, size, per_item=True)
    path = WORK / f"answer_{size}.json"
    path.write_bytes(raw)
    return path


def emulator_argv(files: dict[str, Path], port: int) -> list[str]:
    return [c._timconform(), "emulator", "--port", str(port), "--rate-limit", "off", "--accounts",
            str(files["accounts"]), "--behaviour", str(files["behaviour"]), "--log-level", "warning"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (at most 30)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of discarded wrk load before each run")
    parser.add_argument("--no-prism", action="store_true")
    parser.add_argument("--servers", default="emulator,bare,prism,prism-silent")
    parser.add_argument("--json", type=Path, default=WORK / "emulator_throughput.json")
    parser.add_argument("--baseline-src", type=Path,
                        help="also serve the emulator of another source tree (a directory holding timconform/, "
                             "with openapi.yaml and schemas/ beside it) as 'emulator-baseline', e.g. "
                             "git archive COMMIT src openapi.yaml schemas | tar -x -C /tmp/base; --baseline-src /tmp/base/src")
    args = parser.parse_args()
    args.duration = max(1, min(args.duration, 30))
    args.warmup = max(1, min(args.warmup, 30))
    sizes = [int(s) for s in args.sizes.split(",")]
    servers = [s for s in args.servers.split(",") if not (args.no_prism and s.startswith("prism"))]
    if args.baseline_src:
        servers.insert(1, "emulator-baseline")
    c.require("wrk", "apt-get install -y wrk")
    if any(s.startswith("prism") for s in servers):
        c.require(str(c.PRISM), "npm install --prefix bench/.node @stoplight/prism-cli")
    files = prepare(sizes)
    sig = c.usersig()
    prism_version = "-"
    if any(s.startswith("prism") for s in servers):
        prism_version = c.subprocess.run([str(c.PRISM), "--version"], capture_output=True, text=True,
                                         timeout=60).stdout.strip()
    c.print_machine({"wrk": c.wrk_version(), "prism": prism_version})
    print(f"load: wrk -t1 -c16 -d{args.duration}s, {args.warmup} s warm-up discarded; {args.rounds} rounds, order reversed "
          f"in even rounds; emulator behaviour OPEN-EXISTING-FRIEND: overwrite (every item a real import)")
    results: dict[int, dict[str, list[dict]]] = {}
    for size in sizes:
        answer = emulator_answer(files, size, sig)
        body = files[f"body_{size}"]
        results[size] = {s: [] for s in servers}
        for round_no in range(1, args.rounds + 1):
            order = servers if round_no % 2 else list(reversed(servers))
            for name in order:
                port = c.free_port()
                env = None
                if name == "emulator":
                    argv, per_item, startup = emulator_argv(files, port), True, 60.0
                elif name == "emulator-baseline":
                    argv, per_item, startup = emulator_argv(files, port), True, 60.0
                    env = {"PYTHONPATH": str(args.baseline_src.resolve())}
                elif name == "bare":
                    argv = [sys.executable, str(c.BENCH / "bare_app.py"), "--port", str(port), "--response", str(answer)]
                    per_item, startup = False, 60.0
                else:
                    argv = [str(c.PRISM), "mock", "-h", c.LOOPBACK, "-p", str(port), str(c.ROOT / "openapi.yaml")]
                    if name == "prism-silent":
                        argv += ["-v", "silent"]
                    per_item, startup = False, 120.0
                r = measure(name, argv, port, body, size, sig, args, per_item=per_item, startup=startup, env=env)
                results[size][name].append(r)
                print(f"  size {size:>4}  round {round_no}  {name:<13} {r['rps']:>9.0f} req/s  "
                      f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms", flush=True)
                time.sleep(1)
    report(results, servers, args)


def report(results, servers, args) -> None:
    print()
    rounds = args.rounds
    print("| items | server | " + " | ".join(f"round {i} req/s" for i in range(1, rounds + 1))
          + " | mean req/s | p50 ms | p99 ms |")
    print("| ---: | --- | " + "---: | " * rounds + "---: | ---: | ---: |")
    summary = {}
    for size, per_server in results.items():
        for name in servers:
            runs = per_server[name]
            rps = [r["rps"] for r in runs]
            mean = statistics.mean(rps)
            summary.setdefault(size, {})[name] = {"rps": rps, "mean": mean,
                                                  "p50": statistics.mean(r["p50_ms"] for r in runs),
                                                  "p99": statistics.mean(r["p99_ms"] for r in runs)}
            cells = " | ".join(f"{x:,.0f}" for x in rps)
            print(f"| {size} | {name} | {cells} | {mean:,.0f} | {summary[size][name]['p50']:.2f} | "
                  f"{summary[size][name]['p99']:.2f} |")
    print()
    print("| items | emulator / bare (per round) | emulator / bare (means) | emulator / best Prism (per round) | "
          "emulator / best Prism (means) |")
    print("| ---: | --- | ---: | --- | ---: |")
    for size, s in summary.items():
        emu = s.get("emulator")
        if not emu:
            continue
        row = [str(size)]
        if "bare" in s:
            row += [" / ".join(f"{e / b:.2f}" for e, b in zip(emu["rps"], s["bare"]["rps"])),
                    f"{emu['mean'] / s['bare']['mean']:.2f}"]
        else:
            row += ["-", "-"]
        prisms = [s[p] for p in ("prism", "prism-silent") if p in s]
        if prisms:
            best_per_round = [max(p["rps"][i] for p in prisms) for i in range(len(emu["rps"]))]
            best_mean = max(p["mean"] for p in prisms)
            row += [" / ".join(f"{e / b:.1f}x" for e, b in zip(emu["rps"], best_per_round)),
                    f"{emu['mean'] / best_mean:.1f}x"]
        else:
            row += ["-", "-"]
        print("| " + " | ".join(row) + " |")
    if any("emulator-baseline" in s for s in summary.values()):
        print()
        print("| items | emulator / emulator-baseline (per round) | (means) | baseline / bare (means) |")
        print("| ---: | --- | ---: | ---: |")
        for size, s in summary.items():
            emu, base = s.get("emulator"), s.get("emulator-baseline")
            if emu and base:
                bare = f"{base['mean'] / s['bare']['mean']:.2f}" if "bare" in s else "-"
                print(f"| {size} | " + " / ".join(f"{e / b:.2f}x" for e, b in zip(emu["rps"], base["rps"]))
                      + f" | {emu['mean'] / base['mean']:.2f}x | {bare} |")
    args.json.parent.mkdir(exist_ok=True)
    args.json.write_text(json.dumps({"machine": c.machine(), "results": {str(k): v for k, v in results.items()},
                                     "summary": {str(k): v for k, v in summary.items()}}, indent=1))
    print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
