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
HEADER_KEYS = frozenset({"target", "sdkappid", "identifier"})


class LedgerError(ValueError):
    """A ledger timconform cannot read: one line naming the file, exit code 2."""

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

    def empty(self) -> bool:
        """Nothing was intended yet: an empty file, or only a header cut short by a kill (no line follows it).
        Anything else is read as a ledger, and a file that is none is refused, never removed."""
        try:
            lines = self.path.read_bytes().splitlines()
        except OSError as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc.strerror}") from None
        lines = [line for line in lines if line.strip()]
        if not lines:
            return True
        if len(lines) == 1 and lines[0].startswith(b'{"target"'):
            try:
                json.loads(lines[0])
            except ValueError:
                return True
        return False

    def header(self) -> dict[str, Any]:
        header = self._header()
        if header is None:
            raise LedgerError(f"ledger {self.path} has no header line (target, sdkappid, identifier): it is not "
                              f"one timconform wrote; look at it, then remove it")
        return header

    def _header(self) -> dict[str, Any] | None:
        for entry in self._entries():
            if isinstance(entry, dict) and "target" in entry:
                if not (isinstance(entry.get("target"), str) and type(entry.get("sdkappid")) is int
                        and isinstance(entry.get("identifier"), str) and set(entry) <= HEADER_KEYS):
                    raise LedgerError(f"ledger {self.path}: its header is malformed (expected target, sdkappid, "
                                      f"identifier)")
                return entry
        return None

    def pairs(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for entry in self._entries():
            if not isinstance(entry, dict) or "target" in entry:
                continue
            pairs = entry.get("pairs")
            if set(entry) != {"pairs"} or not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(a, str) for a in p) for p in pairs):
                raise LedgerError(f"ledger {self.path}: a line is not a list of [owner, friend] pairs")
            for owner, target in pairs:
                out.setdefault(owner, set()).add(target)
        return out

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _entries(self) -> Iterable[Any]:
        try:
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        try:
                            yield json.loads(line)
                        except ValueError:
                            continue  # a line cut short by a kill: the pairs before it are still honoured
                        except RecursionError:
                            raise LedgerError(f"ledger {self.path}: a line is nested too deeply: it is not one "
                                              f"timconform wrote") from None
        except UnicodeDecodeError:
            raise LedgerError(f"ledger {self.path} is not UTF-8 text: it is not one timconform wrote") from None
        except OSError as exc:
            raise LedgerError(f"cannot read ledger {self.path}: {exc.strerror}") from None

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class CleanupIncomplete(Exception):
    """A friend_delete was refused (wrong credentials, a front end's error): the ledger is kept for another try."""


def delete_pairs(client, pairs: dict[str, set[str]], *, batch: int) -> int:
    """Delete every friendship in ``pairs`` one-way; returns how many were still there. Each asked account must
    come back deleted or "not a friend" (31704); anything else raises CleanupIncomplete, so a ledger is never
    dropped while friendships it names may remain."""
    deleted = 0
    spec = client.spec
    # The answers that leave no friendship behind: deleted, "not a friend", and a name no account can have (a
    # near-miss probe's " name" or 33-byte name, refused as unknown or invalid). A refusal for anything else
    # (credentials, a front end, the rate limit) may leave friendships, so the ledger stays.
    invalid = spec.code_named("SNS_INVALID_PARAMETER")
    no_owner = set(spec.rules["FI-ACCOUNT-FROM-EXISTS"].codes) | {invalid}
    gone = {0, spec.code_named("SNS_DELETE_NOT_FRIEND"), invalid} | set(spec.rules["FI-ACCOUNT-TO-EXISTS"].codes)
    for owner, targets in sorted(pairs.items()):
        ordered = sorted(targets)
        for start in range(0, len(ordered), batch):
            chunk = ordered[start:start + batch]
            reply = client.call("friend_delete", {"From_Account": owner, "To_Account": chunk,
                                                  "DeleteType": "Delete_Type_Single"})
            envelope = reply.envelope
            if envelope is not None and envelope["ErrorCode"] in no_owner:
                continue
            if envelope is None or envelope["ErrorCode"] != 0:
                raise CleanupIncomplete(f"friend_delete for {owner} was refused ({reply.describe()})")
            codes = {i.get("To_Account"): i.get("ResultCode") for i in envelope.get("ResultItem") or ()
                     if isinstance(i, dict)}
            left = [to for to in chunk if codes.get(to) not in gone]
            if left:
                raise CleanupIncomplete(f"friend_delete for {owner} did not delete {left[0]} "
                                        f"(ResultCode {codes.get(left[0])!r})")
            deleted += sum(1 for to in chunk if codes.get(to) == 0)
    return deleted


def cleanup(client, ledger: Ledger, *, batch: int) -> int:
    """Finish a run from its ledger: delete every friendship it may have made, then drop the ledger."""
    deleted = delete_pairs(client, ledger.pairs(), batch=batch)
    ledger.remove()
    return deleted
