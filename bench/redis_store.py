"""The Redis-backed emulator next to the in-memory one: requests/s over loopback, and Redis bytes per friendship.

    python bench/redis_store.py [--sizes 1,100] [--rounds 2] [--duration 5] [--friendships 100000]

Contenders, each alone on the box, one after the other (order reversed in even rounds), all
`timconform emulator --rate-limit off --accounts A --behaviour B` (B pins OPEN-EXISTING-FRIEND: overwrite, so
every call is a real, successful import of every item):

- memory-1: the default, state in the process (the baseline of every ratio);
- redis-1:  `--store redis://127.0.0.1:PORT/0` (one process);
- redis-2:  `--store ... --workers 2` (two forked workers, one service).

Two workloads, driven by `wrk -t1 -c16` (C + Lua, its own process):
- hot: every request imports for the same From_Account (u0000): every write meets the others on one user's
  table, so the Redis store's WATCH/MULTI re-plans; the worst case for the shared store;
- spread: each request's From_Account is drawn from u0000..u0099 (bench/wrk_post.lua's SENDERS).

Then the memory: FRIENDSHIPS basic friendships (AddSource and AddTime) and as many rich ones (Remark, two
GroupNames, AddWording, two custom tags) written through the model into an empty Redis; Redis's own
`used_memory` before and after, divided by the count. redis-server runs on a free loopback port with
persistence off, and is stopped by its process id at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import emulator_throughput as et  # noqa: E402

WORK = c.BENCH / ".work"
SENDERS = 100


def prepare(sizes: list[int]) -> dict[str, Path]:
    files = et.prepare(sizes)
    accounts = WORK / "accounts_spread.json"
    accounts.write_text(json.dumps({"accounts": [f"u{i:04d}" for i in range(SENDERS)] +
                                    [f"f{i:04d}" for i in range(max(sizes + [1000]))]}))
    files["accounts"] = accounts
    return files


def argv(files: dict[str, Path], port: int, store: str | None, workers: int) -> list[str]:
    out = et.emulator_argv(files, port)
    if store:
        out += ["--store", store, "--workers", str(workers)]
    return out


def run_wrk(url: str, body: Path, duration: int, spread: bool) -> dict:
    return c.run_wrk(url, body, duration=duration, senders=SENDERS if spread else 0)


def throughput(files, sizes, args, redis_url: str, redis_port: int) -> dict:
    import redis

    client = redis.Redis(port=redis_port)
    contenders = {"memory-1": (None, 1), "redis-1": (redis_url, 1), "redis-2": (redis_url, 2)}
    sig = c.usersig()
    results: dict[str, dict[str, list[float]]] = {}
    for size in sizes:
        for workload in ("hot", "spread"):
            key = f"{size} item(s), {workload}"
            results[key] = {name: [] for name in contenders}
            for round_no in range(1, args.rounds + 1):
                order = list(contenders) if round_no % 2 else list(reversed(contenders))
                for name in order:
                    store, workers = contenders[name]
                    client.flushdb()
                    port = c.free_port()
                    url = f"http://{c.LOOPBACK}:{port}/v4/sns/friend_import?{c.query(sig)}"
                    body = files[f"body_{size}"]
                    with c.server(argv(files, port, store, workers), port, log=WORK / f"redis_{name}.log"):
                        status, raw = c.post(url, body.read_bytes())
                        et.check_answer(name, status, raw, size, per_item=True)
                        run_wrk(url, body, args.warmup, workload == "spread")
                        result = run_wrk(url, body, args.duration, workload == "spread")
                        status, raw = c.post(url, body.read_bytes())
                        et.check_answer(name, status, raw, size, per_item=True)
                    if result["non2xx"] or result["socket_errors"]:
                        print(f"  warning: {name}: {result['non2xx']} non-2xx, {result['socket_errors']} socket errors")
                    results[key][name].append(result["rps"])
                    print(f"  {key:<22} round {round_no} {name:<9} {result['rps']:>9,.0f} req/s "
                          f"p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms", flush=True)
    return results


def memory_per_friendship(redis_url: str, redis_port: int, count: int) -> dict[str, float]:
    import redis

    from timconform.emulator import Emulator, EmulatorConfig

    client = redis.Redis(port=redis_port)
    out = {}
    for kind, extra in (("basic", {}), ("rich", {"Remark": "a remark of some length", "GroupName": ["friends", "work"],
                                                 "AddWording": "hello from the bench",
                                                 "CustomItem": [{"Tag": "Tag_SNS_Custom_XXXX", "Value": "v1"},
                                                                {"Tag": "Tag_SNS_Custom_YYYY", "Value": 42}]})):
        client.flushdb()
        emulator = Emulator(EmulatorConfig(store=redis_url, rate_limit=None,
                                           custom_tags=("Tag_SNS_Custom_XXXX", "Tag_SNS_Custom_YYYY")))
        app, model = emulator.app_state, emulator.model
        owners, per_owner = max(1, count // 1000), min(count, 1000)
        friends = [f"f{i:05d}" for i in range(per_owner)]
        for start in range(0, len(friends), 100):
            model.multiaccount_import(app, friends[start:start + 100])
        model.multiaccount_import(app, [f"o{i:05d}" for i in range(owners)])
        before = int(client.info("memory")["used_memory"])
        for n in range(owners):
            owner = f"o{n:05d}"
            body = {"From_Account": owner, "AddFriendItem": [
                {"To_Account": f, "AddSource": "AddSource_Type_Bench", "AddTime": 1420000001, **extra} for f in friends]}
            _, items = emulator.validator.parse(body, app.custom_tags)
            assert set(model.friend_import(app, owner, items)) == {0}
        after = int(client.info("memory")["used_memory"])
        out[kind] = (after - before) / (owners * per_owner)
        print(f"  {kind}: {owners * per_owner:,} friendships, {after - before:,} bytes of used_memory, "
              f"{out[kind]:.0f} bytes each", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--friendships", type=int, default=100_000)
    args = parser.parse_args()
    args.duration, args.warmup = max(1, min(args.duration, 30)), max(1, min(args.warmup, 30))
    sizes = [int(s) for s in args.sizes.split(",")]
    c.require("wrk", "apt-get install -y wrk")
    c.require("redis-server", "apt-get install -y redis-server")
    WORK.mkdir(exist_ok=True)
    files = prepare(sizes)
    redis_port = c.free_port()
    redis_url = f"redis://{c.LOOPBACK}:{redis_port}/0"
    version = c.subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    c.print_machine({"wrk": c.wrk_version(), "redis-server": version})
    print(f"load: wrk -t1 -c16 -d{args.duration}s, {args.warmup} s warm-up discarded; {args.rounds} rounds, order "
          "reversed in even rounds; OPEN-EXISTING-FRIEND: overwrite (every item a real import)")
    with c.server(["redis-server", "--port", str(redis_port), "--bind", c.LOOPBACK, "--save", "", "--appendonly", "no"],
                  redis_port, log=WORK / "redis-server.log"):
        results = throughput(files, sizes, args, redis_url, redis_port)
        print("\nrequests/s (mean of rounds) and ratio to memory-1")
        for key, by_name in results.items():
            base = statistics.mean(by_name["memory-1"])
            cells = [f"{name} {statistics.mean(v):,.0f} ({statistics.mean(v) / base:.2f}x)" for name, v in by_name.items()]
            print(f"  {key:<22} " + " | ".join(cells))
        print(f"\nRedis memory per friendship ({args.friendships:,} of each kind; goal at most 512 bytes)")
        memory_per_friendship(redis_url, redis_port, args.friendships)


if __name__ == "__main__":
    main()
