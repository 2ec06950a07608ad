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
from timconform.oracle.answers import codes_by_account
from timconform.oracle.derived import Derived, FriendSet
from timconform.oracle.predict import Predictor
from timconform.oracle.recorder import CheckFailed, Recorder
from timconform.oracle.registry import Finding, Observation, evaluate, judge, load_all, record
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

    def __init__(self, rule_id: str, message: str, reply: Reply | None = None, *, blame: bool = True) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id, self.message, self.reply, self.blame = rule_id, message, reply, blame

    def record(self, recorder: Recorder, unreached: Iterable[str], where: str) -> None:
        """The rule's Fail with the reply as evidence; ``unreached`` rules Skip, naming it as the cause. Without
        ``blame`` the answer was judged already (by the response rules): the rules are only not reached."""
        if not self.blame:
            recorder.skipped(unreached, f"{self.message} ({where})")
            return
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
        sloppy `<` gets wrong), SUPPORT-MULTIACCOUNT-IMPORT otherwise; an answer that is no envelope at all,
        SUPPORT-ACCOUNT-ENVELOPE's."""
        names = list(names)
        size = self.spec.limit("multiaccount_import_accounts")
        for start in range(0, len(names), size):
            chunk = names[start:start + size]
            width = max(len(n.encode("utf-8")) for n in chunk)
            rule = "FI-LIMIT-USERID-BYTES" if width == self.spec.limit("user_id_bytes") else \
                "SUPPORT-MULTIACCOUNT-IMPORT"
            reply = self.client.call("multiaccount_import", {"Accounts": chunk})
            if reply.envelope is None:
                self.require("SUPPORT-ACCOUNT-ENVELOPE", "envelope", reply)
            self.require(rule, "multiaccount", reply, chunk=chunk)

    # -- the checks ----------------------------------------------------------------------------

    def wants(self, rule_id: str) -> bool:
        """Whether the run judges ``rule_id``: a probe serving only that rule is not worth sending otherwise."""
        return self.recorder.enabled(rule_id)

    def judge(self, rule_id: str, kind: str, reply: Reply | None = None, *, request: Any = None,
              item: int | None = None, account: str | None = None, note: str = "", unreached: str | None = None,
              **facts: Any) -> Finding:
        """Show the check of ``rule_id`` what happened (``kind`` of evidence, the answer, the known state) and
        record what it found; the Finding is true when the rule held."""
        return judge(self.spec, self.recorder, rule_id, Observation(kind, reply=reply, request=request, item=item,
                                                                    account=account, note=note, facts=facts,
                                                                    unreached=unreached))

    def require(self, rule_id: str, kind: str, reply: Reply | None = None, *, request: Any = None,
                account: str | None = None, note: str = "", partial: bool = False, **facts: Any) -> Finding:
        """A setup step the scenario builds on: its rule's check must pass. A failure stops the scenario with the
        Fail of ``rule_id`` (SetupFailed, recorded by the runner); an answer the check cannot read stops it with
        the scenario's rules not reached (the response rules judged that answer). ``partial``: the step checks
        only part of what the rule says, so its passing is no Pass of the rule."""
        observation = Observation(kind, reply=reply, request=request, account=account, note=note, facts=facts)
        found = evaluate(self.spec, rule_id, observation)
        if self.recorder.cassette is not None:
            self.recorder.cassette.judged(rule_id, observation, found)
        if found.status == "fail":
            raise SetupFailed(rule_id, found.message, reply)
        if found.status in ("skip", "error"):
            raise SetupFailed(rule_id, found.message or f"not reached: {rule_id} could not be judged", reply,
                              blame=False)
        if not partial:
            record(self.recorder, rule_id, found)
        return found

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

    def send_raw(self, could_import: Any = None, *, request: Any = None, **call: Any) -> Reply:
        """A friend_import request no valid body describes (``call``: raw bytes, another method or path), with
        every response check on its answer (``request``: the body they read, None for none). ``could_import``
        is the friend_import body a lenient target might act on: on a shared tenant (staging) the ledger hears
        of it before it is sent, as send_import's requests are."""
        if could_import is not None:
            self.ledger_intent(could_import)
        reply = self.client.call("friend_import", **call)
        self.answer(reply, request)
        return reply

    def ledger_intent(self, body: Any) -> None:
        """On a shared tenant (staging), every friendship a request may make is written down before it is sent."""
        if self.ledger is not None:
            self.ledger.record_intent(body)

    def answer(self, reply: Reply, request: Any = None) -> None:
        """Every answer rule on one friend_import answer (``request``: the body the rules read, None for none)."""
        response_checks.run_all(self.spec, self.recorder, request, reply)

    def import_valid(self, from_account: str, items: list[dict[str, Any]], **call: Any) -> Reply:
        """A scenario's setup import of items within every limit: each must get ResultCode 0 and be in the
        friend table afterwards, or the target fails FI-VALID-ITEM-IMPORTED and the scenario's own rules,
        which build on those friendships, are not reached."""
        reply = self.friend_import(from_account, items, **call)
        self.require("FI-VALID-ITEM-IMPORTED", "all_imported", reply, request=items,
                     note=f"the setup import of {len(items)} valid item(s) into {from_account}")
        self.require_stored(from_account, [i["To_Account"] for i in items], reply)
        return reply

    def require_stored(self, from_account: str, to_accounts: list[str], reply: Reply) -> None:
        """Items the target answered with ResultCode 0 are in From_Account's friend table, or FI-VALID-ITEM-IMPORTED
        fails here (not the rule a later check is about, whose premise this is)."""
        friends = self.friends_among(from_account, to_accounts)
        self.require("FI-VALID-ITEM-IMPORTED", "kept", reply, owner=from_account, friends=friends, accounts=to_accounts,
                     note=f"the {len(to_accounts)} item(s) imported into {from_account} with ResultCode 0")

    def codes_by_account(self, reply: Reply, items: list[dict[str, Any]]) -> list[int] | None:
        return codes_by_account(reply, items)

    # -- reading state back -------------------------------------------------------------------

    def relations(self, from_account: str, to_accounts: list[str]) -> dict[str, str]:
        """friend_check with CheckResult_Type_Both: To_Account -> relation, from From's side.

        Every asked account must come back with a relation: a read-back that leaves some out cannot show
        what is stored, so it is a failure of SUPPORT-FRIEND-CHECK-RELATION, not an empty friend table."""
        return self._relations(from_account, to_accounts)[0]

    def _relations(self, from_account: str, to_accounts: list[str]) -> tuple[dict[str, str], list[Reply]]:
        out: dict[str, str] = {}
        replies = []
        size = self.spec.limit("friend_check_items")
        for start in range(0, len(to_accounts), size):
            chunk = to_accounts[start:start + size]
            reply = self.client.call("friend_check", {"From_Account": from_account, "To_Account": chunk,
                                                      "CheckType": "CheckResult_Type_Both"})
            self.require("SUPPORT-FRIEND-CHECK-RELATION", "relations", reply, owner=from_account, asked=chunk)
            out.update({i.get("To_Account"): i.get("Relation") for i in reply.envelope["InfoItem"]
                        if isinstance(i, dict) and i.get("To_Account") in chunk})
            replies.append(reply)
        return out, replies

    def relations_read(self, from_account: str, to_accounts: list[str]) -> Derived:
        """relations(), kept as where it was read (oracle/derived.py), for a check to judge."""
        return Derived("relations", tuple(self._relations(from_account, to_accounts)[1]), (list(to_accounts),))

    def relation_of(self, from_account: str, to_account: str) -> Derived:
        """The Relation of one account, from From's side, kept as where it was read."""
        return Derived("relation", tuple(self._relations(from_account, [to_account])[1]), (to_account,))

    def friends_among(self, from_account: str, to_accounts: list[str]) -> FriendSet:
        """The friends of From_Account among ``to_accounts``, as friend_check shows them (a fact a replay can read
        again from its own answers: oracle/derived.py)."""
        return FriendSet(Derived("friends", tuple(self._relations(from_account, to_accounts)[1]), (list(to_accounts),)))

    def stored(self, from_account: str, to_accounts: list[str], tags: list[str]) -> tuple[Reply, dict[str, Any]]:
        """friend_get_list: To_Account -> {tag: value} (None for a non-friend)."""
        reply = self.client.call("friend_get_list", {"From_Account": from_account, "To_Account": to_accounts,
                                                     "TagList": tags})
        self.require("SUPPORT-FRIEND-GET-LIST-INFOITEM", "info_items", reply, owner=from_account, asked=to_accounts)
        out: dict[str, Any] = {}
        for info in reply.envelope["InfoItem"]:
            if not isinstance(info, dict) or type(info.get("ResultCode")) is not int:
                continue
            if info["ResultCode"] == 0:
                pairs = info.get("SnsProfileItem") or ()
                out[info.get("To_Account")] = {p.get("Tag"): p.get("Value") for p in pairs if isinstance(p, dict)}
            else:
                out[info.get("To_Account")] = None
        return reply, out


def _pairs(body: Any) -> list[tuple[str, str]]:
    if not isinstance(body, dict) or not isinstance(body.get("From_Account"), str):
        return []
    items = body.get("AddFriendItem") if isinstance(body.get("AddFriendItem"), list) else []
    return [(body["From_Account"], i["To_Account"]) for i in items
            if isinstance(i, dict) and isinstance(i.get("To_Account"), str)]


def item(to_account: str, **fields: Any) -> dict[str, Any]:
    return {"To_Account": to_account, "AddSource": ADD_SOURCE, **fields}


load_all()  # every rule's check registered before the first scenario runs
