"""What a scenario works with: the client, the recorder, fresh accounts, and the run's settings."""

from __future__ import annotations

import itertools
import random
import secrets
import string
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from timconform.oracle import response as response_checks
from timconform.oracle.expect import expect, seen, unreadable
from timconform.oracle.predict import Predictor
from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.spec import Spec
from timconform.suite.profiles import Profile
from timconform.target import Client, Reply

ADD_SOURCE = "AddSource_Type_Test"


class SetupFailed(Exception):
    """The target refused (or answered wrongly) a documented-valid call the scenario depends on.

    The target is at fault, under ``rule_id``: the rule that makes the call valid. The runner records a
    failure of that rule with the reply as evidence, and the scenario's rules left without a verdict are
    Skip, "not reached". Never an Error: an Error is the harness's or the network's fault alone.
    """

    def __init__(self, rule_id: str, message: str, reply: Reply | None = None) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id, self.message, self.reply = rule_id, message, reply

    def record(self, recorder: Recorder, unreached: Iterable[str], where: str) -> None:
        """The rule's Fail with the reply as evidence; ``unreached`` rules Skip, naming it as the cause."""
        recorder.failed(CheckFailed(self.rule_id, self.message, exchange=self.reply.exchange if self.reply else None))
        recorder.skipped(unreached, f"not reached: {self.rule_id} failed first ({where})")


class NotReached(Exception):
    """A precondition of the scenario is missing, through nobody's fault (a staging pool too small for it)."""


@dataclass
class Session:
    spec: Spec
    client: Client
    recorder: Recorder
    profile: Profile
    seed: int
    custom_tags: tuple[str, ...] = ()
    run_prefix: str = field(default_factory=lambda: "tc" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6)))
    ledger: Any = None  # staging: every friendship a request may make, written before it is sent
    pool: list[str] | None = None  # staging: the fixed accounts handed out instead of fresh ones
    _counter: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.started = time.time()
        self.predictor = Predictor(self.spec, self.custom_tags)
        self._cursor = 0
        self._made: dict[str, set[str]] = {}
        self._reserve: list[str] = []  # imported fresh accounts not handed out yet
        self._reserve_lock = threading.Lock()

    # -- accounts -------------------------------------------------------------------------------

    def names(self, count: int) -> list[str]:
        """Fresh UserIDs under the run prefix: every example gets its own, so shrinking replays never collide."""
        with self._lock:
            return [f"{self.run_prefix}_{next(self._counter)}" for _ in range(count)]

    def accounts(self, count: int) -> list[str]:
        """``count`` fresh accounts, imported and never used before.

        They are imported ahead, a full multiaccount_import call (100 accounts) at a time, so that a
        scenario asking for a few accounts per example costs one call per hundred accounts instead of
        one per example; at most one call's worth is left unused at the end of a run.
        In the staging profile they come from the fixed pool instead, with this run's earlier
        friendships of theirs deleted first, so that each probe still starts from empty tables.
        """
        if self.pool is None:
            with self._reserve_lock:
                short = count - len(self._reserve)
                if short > 0:
                    size = self.spec.limit("multiaccount_import_accounts")
                    names = self.names(-(-short // size) * size)
                    self.import_accounts(names)
                    self._reserve.extend(names)
                handed, self._reserve[:count] = self._reserve[:count], []
                return handed
        if count > len(self.pool):
            raise NotReached(f"needs {count} accounts; the staging pool has {len(self.pool)}")
        names = [self.pool[(self._cursor + i) % len(self.pool)] for i in range(count)]
        self._cursor = (self._cursor + count) % len(self.pool)
        stale = {owner: self._made.pop(owner) for owner in names if owner in self._made}
        if stale:
            from timconform.suite.staging import delete_pairs

            delete_pairs(self.client, stale, batch=self.spec.limit("friend_delete_items"))
        return names

    def import_accounts(self, names: Iterable[str]) -> None:
        """Import ``names`` with multiaccount_import. A refusal is a failure of the rule that makes these
        names valid: FI-LIMIT-USERID-BYTES when the longest is exactly at the byte limit (the boundary a
        sloppy `<` gets wrong), SUPPORT-MULTIACCOUNT-IMPORT otherwise."""
        names = list(names)
        size = self.spec.limit("multiaccount_import_accounts")
        for start in range(0, len(names), size):
            chunk = names[start:start + size]
            longest = max(chunk, key=lambda n: len(n.encode("utf-8")))
            width = len(longest.encode("utf-8"))
            rule = "FI-LIMIT-USERID-BYTES" if width == self.spec.limit("user_id_bytes") else \
                "SUPPORT-MULTIACCOUNT-IMPORT"
            reply = self.client.call("multiaccount_import", {"Accounts": chunk})
            listed = (reply.envelope or {}).get("FailAccounts")
            failed = [n for n in chunk if n in listed] if isinstance(listed, list) else []
            if not reply.ok or failed:
                got = reply.describe() + (f", FailAccounts {failed[:5]!r}" if failed else "")
                if reply.envelope is None:  # not a refusal of these names: an answer that is no envelope at all
                    rule = "SUPPORT-ACCOUNT-ENVELOPE"
                raise SetupFailed(rule, f"Expected multiaccount_import of {len(chunk)} valid UserIDs (the longest "
                                        f"{longest!r}, {width} bytes) to answer ActionStatus OK with none of them in "
                                        f"FailAccounts. Received {got}.", reply)
            self._served(rule)

    # -- friend_import with every response check ---------------------------------------------

    def friend_import(self, from_account: str, items: list[dict[str, Any]], **call: Any) -> Reply:
        body = {"From_Account": from_account, "AddFriendItem": items}
        return self.send_import(body, **call)

    def send_import(self, body: Any, **call: Any) -> Reply:
        if self.ledger is not None:
            self.ledger.record_intent(body)
            for owner, target in _pairs(body):
                self._made.setdefault(owner, set()).add(target)
        reply = self.client.call("friend_import", body, **call)
        response_checks.run_all(self.spec, self.recorder, body, reply)
        return reply

    def import_valid(self, from_account: str, items: list[dict[str, Any]], **call: Any) -> Reply:
        """A scenario's setup import of items within every limit: each must get ResultCode 0 and be in the
        friend table afterwards, or the target fails FI-VALID-ITEM-IMPORTED and the scenario's own rules,
        which build on those friendships, are not reached."""
        reply = self.friend_import(from_account, items, **call)
        codes = self.codes_by_account(reply, items)
        if codes is None or any(codes):
            got = reply.describe() + (f", ResultCodes {codes}" if codes is not None else ", no ResultItem for each")
            raise SetupFailed("FI-VALID-ITEM-IMPORTED" if codes else answer_rule(reply, "FI-VALID-ITEM-IMPORTED"),
                              f"Expected the setup import of {len(items)} valid item(s) into {from_account} to get "
                              f"ResultCode 0 each. Received {got}.", reply)
        self.require_stored(from_account, [i["To_Account"] for i in items], reply)
        return reply

    def require_stored(self, from_account: str, to_accounts: list[str], reply: Reply) -> None:
        """Items the target answered with ResultCode 0 are in From_Account's friend table, or FI-VALID-ITEM-IMPORTED
        fails here (not the rule a later check is about, whose premise this is)."""
        missing = sorted(set(to_accounts) - self.friends_among(from_account, to_accounts))
        if missing:
            raise SetupFailed("FI-VALID-ITEM-IMPORTED", f"Expected the {len(to_accounts)} item(s) imported into "
                                                        f"{from_account} with ResultCode 0 to be in its friend table "
                                                        f"(friend_check). Received no friendship with {missing[:5]}.",
                              reply)
        self._served("FI-VALID-ITEM-IMPORTED")

    def expect(self, rule_id: str, reply: Reply, *, item: int | None = None, account: str | None = None,
               note: str = "") -> str | None:
        return expect(self.recorder, self.spec.rules[rule_id], reply, item=item, account=account, note=note)

    def imported(self, rule_id: str, reply: Reply, note: str, *, item: int | None = None,
                 account: str | None = None) -> bool:
        """Judge that an item within ``rule_id``'s limits got ResultCode 0. A refusal breaks ``rule_id``; an
        answer with no result for the item is the response rules' to judge (expect.unreadable)."""
        observed = seen(reply, item=item, account=account)
        if observed is None:
            unreadable(self.recorder, self.spec.rules[rule_id], reply, f"Expected {note} to be imported (ResultCode 0).")
            return False
        return self.verify(rule_id, observed.code == 0, f"Expected {note} to be imported (ResultCode 0). "
                                                        f"Received {observed.describe()}.", reply)

    def batch_imported(self, rule_id: str, reply: Reply, items: list[dict[str, Any]], note: str) -> bool:
        """Judge that every item of a batch within ``rule_id``'s limits got ResultCode 0 (see :meth:`imported`)."""
        codes = self.codes_by_account(reply, items)
        if codes is None and reply.envelope is not None and not reply.ok:  # the whole valid batch refused
            return self.verify(rule_id, False, f"Expected {note}: ResultCode 0 for each of {len(items)} items. "
                                               f"Received {reply.describe()}.", reply)
        if codes is None:
            unreadable(self.recorder, self.spec.rules[rule_id], reply,
                       f"Expected {note}: ResultCode 0 for each of {len(items)} items.")
            return False
        refused = sorted({c for c in codes if c != 0}, key=repr)
        return self.verify(rule_id, not refused, f"Expected {note}: ResultCode 0 for each of {len(items)} items. "
                                                 f"Received codes {refused} for {sum(c != 0 for c in codes)} of them.",
                           reply)

    def expect_refusal_form(self, rule_id: str, premise: str, reply: Reply, *, item: int | None = None,
                            account: str | None = None, note: str = "") -> str | None:
        """Judge ``rule_id``, a rule about *how* a refusal looks (its level or code), only on a refusal. An
        acceptance breaks ``premise``, the rule that demands the refusal, which judges it; this one is
        then not reached rather than failed twice for one fault."""
        observed = seen(reply, item=item, account=account)
        if observed is None or observed.code == 0:
            self.recorder.skipped([rule_id], f"not reached: {premise} failed first ({note or 'no refusal'} "
                                             "was not refused)")
            return None
        return self.expect(rule_id, reply, item=item, account=account, note=note)

    def codes_by_account(self, reply: Reply, items: list[dict[str, Any]]) -> list[int] | None:
        """Each request item's ResultCode, matched by To_Account (ResultItem order is only inferred); None
        unless the answer is OK with an integer ResultCode for every item."""
        results = reply.envelope.get("ResultItem") if reply.ok else None
        if not isinstance(results, list) or len(results) != len(items):
            return None
        pending: dict[Any, list[Any]] = {}
        for result in results:
            if isinstance(result, dict):
                pending.setdefault(result.get("To_Account"), []).append(result.get("ResultCode"))
        codes = []
        for entry in items:
            queue = pending.get(entry.get("To_Account"))
            if not queue or type(queue[0]) is not int:
                return None  # an item without a result of its own: FI-RESULTITEM-PER-ACCOUNT judges the answer
            codes.append(queue.pop(0))
        return codes

    def fail(self, rule_id: str, message: str, reply: Reply | None = None) -> None:
        if self.recorder.enabled(rule_id):
            self.recorder.failed(CheckFailed(rule_id, message, exchange=reply.exchange if reply else None))

    def verify(self, rule_id: str, condition: bool, message: str, reply: Reply | None = None) -> bool:
        """Record one check of ``rule_id``: a pass, or a failure with ``message`` (Expected/Received)."""
        if not self.recorder.enabled(rule_id):
            return condition
        if condition:
            self.recorder.passed(rule_id)
        else:
            self.fail(rule_id, message, reply)
        return condition

    # -- reading state back -------------------------------------------------------------------

    def relations(self, from_account: str, to_accounts: list[str]) -> dict[str, str]:
        """friend_check with CheckResult_Type_Both: To_Account -> relation, from From's side.

        Every asked account must come back with a relation: a read-back that leaves some out cannot show
        what is stored, so it is a failure of SUPPORT-FRIEND-CHECK-RELATION, not an empty friend table."""
        out: dict[str, str] = {}
        size = self.spec.limit("friend_check_items")
        for start in range(0, len(to_accounts), size):
            chunk = to_accounts[start:start + size]
            reply = self.client.call("friend_check", {"From_Account": from_account, "To_Account": chunk,
                                                      "CheckType": "CheckResult_Type_Both"})
            infos = reply.envelope.get("InfoItem") if reply.ok else None
            answered = {i.get("To_Account"): i.get("Relation") for i in infos if isinstance(i, dict)} \
                if isinstance(infos, list) else {}
            missing = [a for a in chunk if not isinstance(answered.get(a), str)]
            if missing:
                got = reply.describe() + (f", no Relation for {missing[:3]}" if reply.ok else "")
                raise SetupFailed("SUPPORT-FRIEND-CHECK-RELATION",
                                  f"Expected friend_check (CheckResult_Type_Both) of {len(chunk)} accounts for "
                                  f"{from_account} to answer ActionStatus OK with a Relation for each. Received {got}.",
                                  reply)
            out.update(answered)
            self._served("SUPPORT-FRIEND-CHECK-RELATION")
        return out

    def friends_among(self, from_account: str, to_accounts: list[str]) -> set[str]:
        relations = self.relations(from_account, to_accounts)
        return {a for a, r in relations.items() if r in ("CheckResult_Type_AWithB", "CheckResult_Type_BothWay")}

    def stored(self, from_account: str, to_accounts: list[str], tags: list[str]) -> tuple[Reply, dict[str, Any]]:
        """friend_get_list: To_Account -> {tag: value} (None for a non-friend)."""
        reply = self.client.call("friend_get_list", {"From_Account": from_account, "To_Account": to_accounts,
                                                     "TagList": tags})
        infos = reply.envelope.get("InfoItem") if reply.ok else None
        out: dict[str, Any] = {}
        for info in infos if isinstance(infos, list) else ():
            if not isinstance(info, dict) or type(info.get("ResultCode")) is not int:
                continue
            if info["ResultCode"] == 0:
                pairs = info.get("SnsProfileItem") or ()
                out[info.get("To_Account")] = {p.get("Tag"): p.get("Value") for p in pairs if isinstance(p, dict)}
            else:
                out[info.get("To_Account")] = None
        missing = [a for a in to_accounts if a not in out]
        if missing:
            got = reply.describe() + (f", no InfoItem with a ResultCode for {missing[:3]}" if reply.ok else "")
            raise SetupFailed("SUPPORT-FRIEND-GET-LIST-INFOITEM",
                              f"Expected friend_get_list of {len(to_accounts)} accounts for {from_account} to answer "
                              f"ActionStatus OK with one InfoItem per To_Account. Received {got}.", reply)
        self._served("SUPPORT-FRIEND-GET-LIST-INFOITEM")
        return reply, out

    def _served(self, rule_id: str) -> None:
        """A setup call did its documented job: a passing check of the rule that makes it valid."""
        if self.recorder.enabled(rule_id):
            self.recorder.passed(rule_id)


def answer_rule(reply: Reply, otherwise: str) -> str:
    """The rule a friend_import answer that did not import valid items breaks: its status, its envelope, its
    per-item results (an OK without a result for each item), or, for a proper refusal, ``otherwise``."""
    if reply.status != 200:
        return "FI-HTTP-200"
    if reply.envelope is None:
        return "FI-ENVELOPE-SHAPE"
    return "FI-RESULTITEM-PER-ACCOUNT" if reply.ok else otherwise


def _pairs(body: Any) -> list[tuple[str, str]]:
    if not isinstance(body, dict) or not isinstance(body.get("From_Account"), str):
        return []
    items = body.get("AddFriendItem") if isinstance(body.get("AddFriendItem"), list) else []
    return [(body["From_Account"], i["To_Account"]) for i in items
            if isinstance(i, dict) and isinstance(i.get("To_Account"), str)]


def item(to_account: str, **fields: Any) -> dict[str, Any]:
    return {"To_Account": to_account, "AddSource": ADD_SOURCE, **fields}
