"""The staging profile's safety: a fixed pool of accounts, and a ledger of every friendship it may make.

Accounts cannot be deleted on paid apps (71000) and a Free Trial app holds at most 100 (70398), so a
shared tenant gets a fixed, namespaced pool reused by every run. Every friendship a request may create
is written to the ledger *before* the request is sent, so a run killed at any point can be finished
by ``timconform cleanup``, which deletes them (friend_delete of a non-friend answers 31704: harmless).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

POOL_PREFIX = "timconform_pool_"
DEFAULT_LEDGER = Path(".timconform") / "staging-ledger.jsonl"


def pool_names(size: int) -> list[str]:
    return [f"{POOL_PREFIX}{i:03d}" for i in range(size)]


class Ledger:
    """An append-only JSON-lines file: one header line (target, app), then one line per intended pair."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def start(self, *, target: str, sdkappid: int, identifier: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._append({"target": target, "sdkappid": sdkappid, "identifier": identifier})

    def record_intent(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("AddFriendItem"), list):
            return
        owner = body.get("From_Account")
        targets = [i.get("To_Account") for i in body["AddFriendItem"] if isinstance(i, dict)]
        pairs = [[owner, t] for t in targets if isinstance(owner, str) and isinstance(t, str)]
        if pairs:
            self._append({"pairs": pairs})

    def header(self) -> dict[str, Any]:
        for entry in self._entries():
            if "target" in entry:
                return entry
        raise ValueError(f"ledger {self.path} has no header line")

    def pairs(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for entry in self._entries():
            for owner, target in entry.get("pairs", ()):
                out.setdefault(owner, set()).add(target)
        return out

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _entries(self) -> Iterable[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue  # a line cut short by a kill: the pairs before it are still honoured

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def delete_pairs(client, pairs: dict[str, set[str]], *, batch: int) -> int:
    """Delete every friendship in ``pairs`` one-way; returns how many were still there."""
    deleted = 0
    for owner, targets in sorted(pairs.items()):
        ordered = sorted(targets)
        for start in range(0, len(ordered), batch):
            reply = client.call("friend_delete", {"From_Account": owner, "To_Account": ordered[start:start + batch],
                                                  "DeleteType": "Delete_Type_Single"})
            items = (reply.body or {}).get("ResultItem") or []
            deleted += sum(1 for i in items if isinstance(i, dict) and i.get("ResultCode") == 0)
    return deleted


def cleanup(client, ledger: Ledger, *, batch: int) -> int:
    """Finish a run from its ledger: delete every friendship it may have made, then drop the ledger."""
    deleted = delete_pairs(client, ledger.pairs(), batch=batch)
    ledger.remove()
    return deleted
