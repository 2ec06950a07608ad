"""Where a speed-up came from: the emulator in-process, with one hot-path file at a time taken from a baseline.

    mkdir -p /tmp/base && git archive cea9949 src openapi.yaml schemas | tar -x -C /tmp/base   # before issue 7
    python bench/ablation.py --baseline-src /tmp/base/src [--sizes 1,1000] [--reps 3]

For each variant (the baseline tree, the current tree, and the current tree with one of app.py, gateway.py,
envelope.py, model.py, validation.py, usersig.py put back to its baseline version) a fresh Python process
imports that tree and calls the emulator's ASGI app directly (no socket, no uvicorn) with a valid 1-item or
1000-item friend_import (behaviour OPEN-EXISTING-FRIEND: overwrite), N times in a loop; the best of --reps
runs is reported in microseconds per call. "share" is how much of the total gain disappears when that one
file is reverted (the shares need not add up to 100%: the changes interact).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

FILES = ("emulator/app.py", "emulator/gateway.py", "emulator/envelope.py", "emulator/model.py",
         "emulator/validation.py", "usersig.py")
CALLS = {1: 20000, 100: 2000, 1000: 200}

PROBE = r'''
import asyncio, json, sys, time
from timconform.emulator import Emulator, EmulatorConfig
size, calls = int(sys.argv[1]), int(sys.argv[2])
names = [f"f{i:04d}" for i in range(size)]
emu = Emulator(EmulatorConfig(rate_limit=None, behaviour={"OPEN-EXISTING-FRIEND": "overwrite"}))
for name in ["u0000"] + names:
    emu.model.account_import(emu.app_state, name)
body = json.dumps({"From_Account": "u0000", "AddFriendItem": [
    {"To_Account": n, "AddSource": "AddSource_Type_Bench", "AddTime": 1420000001} for n in names]}).encode()
query = ("sdkappid=1400000000&identifier=administrator&usersig=" + emu.usersig() + "&random=7&contenttype=json").encode()
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
         "path": "/v4/sns/friend_import", "raw_path": b"/v4/sns/friend_import", "query_string": query,
         "root_path": "", "headers": [(b"host", b"emulator"), (b"content-type", b"application/json")],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
last = []
async def one():
    sent = False
    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}
    async def send(message):
        if message["type"] == "http.response.body":
            last.append(message["body"])
    await emu(dict(scope), receive, send)
async def loop(n):
    for _ in range(n):
        await one()
asyncio.run(loop(max(10, calls // 20)))
answer = json.loads(last[-1])
assert answer["ActionStatus"] == "OK" and not any(i["ResultCode"] for i in answer["ResultItem"]), answer
started = time.perf_counter()
asyncio.run(loop(calls))
print("US_PER_CALL", (time.perf_counter() - started) / calls * 1e6)
'''


def tree(workdir: Path, name: str, current: Path, baseline: Path, revert: str | None) -> Path:
    """A directory holding timconform/ (and openapi.yaml, schemas/ beside it, where data_root looks)."""
    root = workdir / name
    shutil.copytree(current, root / "src" / "timconform", ignore=shutil.ignore_patterns("__pycache__"))
    if revert:
        shutil.copy(baseline / revert, root / "src" / "timconform" / revert)
    os.symlink(c.ROOT / "openapi.yaml", root / "openapi.yaml")
    os.symlink(c.ROOT / "schemas", root / "schemas")
    return root / "src"


def probe(path: Path, size: int, probe_file: Path) -> float:
    env = os.environ | {"PYTHONPATH": str(path)}
    out = subprocess.run([sys.executable, str(probe_file), str(size), str(CALLS.get(size, 1000))], env=env,
                         capture_output=True, text=True, timeout=600)
    match = re.search(r"US_PER_CALL ([\d.]+)", out.stdout)
    if not match:
        raise SystemExit(f"probe failed ({path}): {out.stderr[-800:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", type=Path, required=True, help="directory holding the baseline timconform/")
    parser.add_argument("--sizes", default="1,1000")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    baseline = args.baseline_src.resolve() / "timconform"
    current = c.ROOT / "src" / "timconform"
    c.print_machine()
    with tempfile.TemporaryDirectory(prefix="timconform-ablation-") as tmp:
        workdir = Path(tmp)
        probe_file = workdir / "probe.py"
        probe_file.write_text(PROBE)
        variants = {"baseline": args.baseline_src.resolve(), "current": tree(workdir, "current", current, baseline, None)}
        for name in FILES:
            variants[f"current, {name} from baseline"] = tree(workdir, name.replace("/", "_"), current, baseline, name)
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.reps):
            for label, path in variants.items():
                for size in sizes:
                    us = probe(path, size, probe_file)
                    best[(label, size)] = min(us, best.get((label, size), us))
    print()
    print("| variant | " + " | ".join(f"{s} item(s): us/call (share of gain)" for s in sizes) + " |")
    print("| --- | " + " | ".join("---:" for _ in sizes) + " |")
    for label in variants:
        cells = []
        for size in sizes:
            base, cur, us = best[("baseline", size)], best[("current", size)], best[(label, size)]
            share = (us - cur) / (base - cur) if label.startswith("current,") and base > cur else None
            cells.append(f"{us:,.1f}" + (f" ({100 * share:.0f}%)" if share is not None else ""))
        print(f"| {label} | " + " | ".join(cells) + " |")
    for size in sizes:
        print(f"speed-up at {size} item(s): {best[('baseline', size)] / best[('current', size)]:.2f}x")
    out = c.BENCH / ".work" / "ablation.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({f"{k[0]} @ {k[1]}": v for k, v in best.items()}, indent=1))


if __name__ == "__main__":
    main()
