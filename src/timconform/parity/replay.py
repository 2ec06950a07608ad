"""``timconform parity``: send a cassette's requests to a target, in order, and compare the answers.

Each answer is compared with the recorded one after the transformers (transformers.py); every divergence is
listed by JSON path. Every observation the cassette kept is then judged again on the replayed answers (and
facts read back from them, oracle/derived.py): the rules whose findings change are the rules a divergence
touches. The replay follows the recording's path through each scenario: where the target's answer would have
made the scenario branch, the re-judged finding says the rule changed, and a run of the suite against the
target gives its verdict.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from timconform.inputs import InputError, read_document, unknown_keys
from timconform import usersig_styles
from timconform.oracle.registry import evaluate, load_all
from timconform.parity import cassette as cassette_module
from timconform.parity.diff import NOT_JSON, Divergence, diff, parse, pattern, plain
from timconform.parity.observations import decode
from timconform.parity.transformers import Window, account_prefix, fill_query, fresh_prefix, server_time
from timconform.report.model import Exchange
from timconform.spec import Spec
from timconform.target import Client, Reply

OTHER_KEY = "5" * 64  # "a key that is not the app's": any well-formed key but the replay's own


@dataclass(frozen=True)
class Declared:
    path: re.Pattern[str]
    reason: str
    scenario: str | None = None
    operation: str | None = None

    def covers(self, line: Mapping[str, Any], divergence: Divergence) -> bool:
        return bool(self.path.fullmatch(divergence.path)) and self.scenario in (None, line.get("scenario")) \
            and self.operation in (None, line.get("operation"))


class DeclaredError(ValueError):
    """A declared-divergences file that cannot be read: one line, exit code 2."""


def load_declared(path: Path) -> list[Declared]:
    """A YAML or JSON file: ``divergences: [{path, reason, scenario?, operation?}]``; ``path: status`` for the
    HTTP status or a transport failure."""
    try:
        data = read_document(path, "declared divergences")
        if isinstance(data, dict):
            unknown_keys(data, ("divergences",), f"declared divergences {path}")
        for number, entry in enumerate(data.get("divergences") or () if isinstance(data, dict) else (), 1):
            if isinstance(entry, dict):
                unknown_keys(entry, ("path", "reason", "scenario", "operation"), f"{path}: divergence {number}")
                if not all(isinstance(entry.get(k), (str, type(None))) for k in ("scenario", "operation")):
                    raise DeclaredError(f"{path}: divergence {number}: scenario and operation are names (text)")
    except InputError as exc:
        raise DeclaredError(str(exc)) from None
    entries = data.get("divergences") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise DeclaredError(f"{path}: expected a mapping with a list under 'divergences'")
    out = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or \
                not (entry["path"].startswith("$") or entry["path"] == "status") or \
                not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
            raise DeclaredError(f"{path}: divergence {number} needs a path (a JSON path starting with $, or status) "
                                f"and a reason")
        out.append(Declared(pattern(entry["path"]), entry["reason"], entry.get("scenario"), entry.get("operation")))
    return out


@dataclass
class Found:
    """One divergence of one exchange, with the rules it touches."""

    n: int
    scenario: str | None
    operation: str
    divergence: Divergence
    rules: list[str] = field(default_factory=list)  # rules judged on it whose finding changed on the replay
    judged_by: list[str] = field(default_factory=list)
    declared: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.divergence
        return {"exchange": self.n, "scenario": self.scenario, "operation": self.operation, "path": d.path,
                "kind": d.kind, "recorded": d.recorded, "replayed": d.replayed, "rules": self.rules,
                "judged_by": self.judged_by, "declared": self.declared}


@dataclass
class Parity:
    cassette: str
    target: str
    exchanges: int = 0
    replayed: int = 0
    not_replayed: list[dict[str, Any]] = field(default_factory=list)
    divergences: list[Found] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)  # rules whose finding differs, with both findings
    rejudged: int = 0
    unjudged: int = 0  # observations the cassette could not keep (not judged again)

    @property
    def undeclared(self) -> list[Found]:
        return [f for f in self.divergences if f.declared is None]

    def changed_rules(self) -> list[str]:
        return sorted({c["rule"] for c in self.changed})

    def as_dict(self) -> dict[str, Any]:
        return {"cassette": self.cassette, "target": self.target, "exchanges": self.exchanges,
                "replayed": self.replayed, "not_replayed": self.not_replayed,
                "divergences": [f.as_dict() for f in self.divergences], "rules_changed": self.changed_rules(),
                "changed": self.changed, "rejudged": self.rejudged, "unjudged": self.unjudged}


class _Replay:
    def __init__(self, spec: Spec, client: Client, header: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]):
        self.spec, self.client, self.header, self.lines = spec, client, header, lines
        self.recorded_prefix = header.get("account_prefix") or ""
        self.prefix = fresh_prefix(self.recorded_prefix) if self.recorded_prefix else ""
        self.started = time.time()
        self._sigs: dict[str, str] = {}
        self.replies: dict[int, Reply] = {}  # n -> the replayed answer, its names read as the recording's
        self.descriptions: dict[int, dict[str, Any]] = {}

        # The recording's names in both letter cases (OPEN-USERID-CASE sends one swapped), and its admin as a
        # JSON string in bodies (the preflight's account_check), become the replay's.
        self._forward = _pairs(self.recorded_prefix, self.prefix)
        self._back = _pairs(self.prefix, self.recorded_prefix)
        identifier = header.get("identifier")
        if isinstance(identifier, str) and identifier and identifier != client.creds.identifier:
            self._identifiers = (identifier, client.creds.identifier)
            self._body_forward = [(json.dumps(identifier), json.dumps(client.creds.identifier))]
        else:
            self._identifiers = None
            self._body_forward = []

    def rename(self, text: str) -> str:
        for old, new in self._forward:
            text = text.replace(old, new)
        return text

    def rename_back(self, text: str) -> str:
        for old, new in self._back:
            text = text.replace(old, new)
        return text

    def body_back(self, text: str) -> str:
        """A whole answer's text with the replay's names and admin read as the recording's."""
        text = self.rename_back(text)
        if self._identifiers is not None:
            text = text.replace(json.dumps(self._identifiers[1]), json.dumps(self._identifiers[0]))
        return text

    def string_back(self, value: str) -> str:
        """One JSON string of an answer, read as the recording's (the admin only where it is the whole string)."""
        if self._identifiers is not None and value == self._identifiers[1]:
            return self._identifiers[0]
        return self.rename_back(value)

    def usersig(self, number: int) -> str:
        """One UserSig per description (a cassette written by hand may number each line's from 1)."""
        description = self.descriptions[number]
        key = json.dumps(description, sort_keys=True)
        if key not in self._sigs:
            self._sigs[key] = self._make(description)
        return self._sigs[key]

    def _make(self, description: Mapping[str, Any]) -> str:
        if "literal" in description:
            return description["literal"]
        creds = self.client.creds
        identifier = description.get("identifier", "<identifier>")
        identifier = creds.identifier if identifier == "<identifier>" else self.rename(identifier)
        if "style" in description:  # the Node or Go generator's format, '_'-padded or stripped, as recorded
            sig = usersig_styles.padded(description["style"], identifier, creds.sdkappid, creds.secret_key,
                                        int(time.time()))
            self.client.redactor.add(sig)
            return sig.rstrip("_") if description.get("padding") == "stripped" else sig
        key = creds.secret_key if description.get("key", "app") == "app" else \
            (OTHER_KEY if OTHER_KEY != creds.secret_key else "6" * 64)
        age = description.get("age")
        sdkappid = description.get("sdkappid")
        if "sdkappid_offset" in description:
            sdkappid = creds.sdkappid + description["sdkappid_offset"]
        sig = self.client.usersigs.make(identifier, sdkappid=sdkappid, key=key,
                                        lifetime=description.get("expire", 86400),
                                        now=None if age is None else int(time.time()) - age)
        return sig[:description["cut"]] if "cut" in description else sig

    def send(self, line: Mapping[str, Any]) -> Reply:
        self.descriptions = {}
        for number, description in (line.get("usersigs") or {}).items():
            self.descriptions[int(number)] = description
        creds = self.client.creds
        path = self.rename(line["path"])
        query = line.get("query")
        if query is not None:
            path += "?" + self.rename(fill_query(query, usersig=self.usersig, sdkappid=creds.sdkappid,
                                                 identifier=creds.identifier))
        if "body_base64" in line:
            content = base64.b64decode(line["body_base64"])
            for old, new in self._forward:
                content = content.replace(old.encode(), new.encode())
        else:
            text = self.rename(line.get("body") or "")
            for old, new in self._body_forward:
                text = text.replace(old, new)
            content = text.encode("utf-8")
        return self.client.send(line.get("operation") or line["path"], line["method"], path, content,
                                line.get("headers") or {})

    def as_recorded(self, reply: Reply) -> Reply:
        """The replayed answer with the replay's account names read as the recording's (for judging again)."""
        back = self.body_back(reply.exchange.response_body)
        try:
            body = json.loads(back)
        except (ValueError, RecursionError):
            body = None
        return Reply(_exchange_like(reply.exchange, back), reply.status, body)


def _pairs(old: str, new: str) -> list[tuple[str, str]]:
    if not old or not new:
        return []
    return list(dict.fromkeys([(old, new), (old.upper(), new.upper()), (old.swapcase(), new.swapcase())]))


def _exchange_like(exchange: Exchange, body: str) -> Exchange:
    return Exchange(operation=exchange.operation, method=exchange.method, url=exchange.url, headers=exchange.headers,
                    body=exchange.body, status=exchange.status, response_headers=exchange.response_headers,
                    response_body=body, elapsed_ms=exchange.elapsed_ms, error=exchange.error)


def recorded_reply(line: Mapping[str, Any]) -> Reply:
    """The answer a cassette line recorded, as the checks read answers."""
    text = line.get("response")
    exchange = Exchange(operation=line.get("operation") or "", method=line["method"], url=line["path"],
                        headers=line.get("headers") or {}, body=line.get("body") or "", status=line.get("status"),
                        response_headers=line.get("response_headers") or {}, response_body=text or "",
                        error=line.get("error"))
    try:
        body = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        body = None
    return Reply(exchange, line.get("status") or 0, body)


def replay(spec: Spec, client: Client, path: Path, *, declared: Sequence[Declared] = (), target: str = "") -> Parity:
    header, lines = cassette_module.read(path)
    load_all()
    run = _Replay(spec, client, header, lines)
    result = Parity(str(path), target, exchanges=len(lines))
    for line in lines:
        if line.get("replay"):
            result.not_replayed.append({"exchange": line["n"], "scenario": line.get("scenario"), "why": line["replay"]})
            continue
        reply = run.send(line)
        result.replayed += 1
        run.replies[line["n"]] = run.as_recorded(reply)
        result.divergences += _compare(line, reply, run, header, declared)
    _rejudge(spec, lines, run, header, result)
    return result


def _compare(line: Mapping[str, Any], reply: Reply, run: _Replay, header: Mapping[str, Any],
             declared: Sequence[Declared]) -> list[Found]:
    started = header.get("started")
    recorded_window = Window(started, header.get("ended") or started) if started else None  # a hand-made cassette
    replay_window = Window(run.started, time.time())
    found: list[Divergence] = []
    if "error" in line or reply.exchange.error is not None:
        if line.get("error") != reply.exchange.error and (line.get("error") is None or reply.exchange.error is None):
            found.append(Divergence("status", "status", line.get("error") or line.get("status"),
                                    reply.exchange.error or reply.status))
    else:
        if line.get("status") != reply.status:
            found.append(Divergence("status", "status", line.get("status"), reply.status))
        mine, theirs = parse(line.get("response")), parse(reply.exchange.response_body)
        if mine is NOT_JSON or theirs is NOT_JSON:
            replayed_text = run.body_back(reply.exchange.response_body)
            if mine is not theirs or line.get("response") != replayed_text:
                found.append(Divergence("$", "text", (line.get("response") or "")[:200], replayed_text[:200]))
        else:
            theirs = account_prefix(run.string_back)(theirs)
            if recorded_window is not None:
                mine = server_time(recorded_window)(mine)
            found += diff(mine, server_time(replay_window)(theirs))
    judged_by = sorted({j["rule"] for j in line.get("judged") or ()})
    out = []
    for divergence in found:
        reason = next((d.reason for d in declared if d.covers(line, divergence)), None)
        out.append(Found(line["n"], line.get("scenario"), line.get("operation") or "", divergence,
                         judged_by=judged_by, declared=reason))
    return out


def _rejudge(spec: Spec, lines: Sequence[Mapping[str, Any]], run: _Replay, header: Mapping[str, Any],
             result: Parity) -> None:
    """Judge every kept observation again on the replayed answers; keep the rules whose finding changed."""
    by_number = {line["n"]: line for line in lines}

    def reply_of(number: int) -> Reply:
        return run.replies[number] if number in run.replies else recorded_reply(by_number[number])

    def sent_of(number: int, part: str) -> Any:
        body = json.loads(by_number[number].get("body") or "null")
        return body.get("AddFriendItem") if part == "AddFriendItem" and isinstance(body, dict) else body

    touched: dict[int, set[str]] = {}
    for line in lines:
        if line["n"] not in run.replies:
            continue
        observations = line.get("observations") or []
        for entry in line.get("judged") or ():
            index = entry.get("observation")
            data = observations[index] if isinstance(index, int) and index < len(observations) else {}
            if "kind" not in data:
                result.unjudged += 1
                continue
            if entry["rule"] not in spec.rules:
                continue
            now = _judge_again(spec, entry["rule"], data, reply_of, sent_of, run.started, line["n"])
            result.rejudged += 1
            if _differs((entry["status"], entry.get("outcome"), entry.get("message")), now):
                result.changed.append({"rule": entry["rule"], "exchange": line["n"], "scenario": line.get("scenario"),
                                       "recorded": _finding(entry["status"], entry.get("outcome")),
                                       "replayed": _finding(now[0], now[1])})
                for number in _references(data) | {line["n"]}:
                    touched.setdefault(number, set()).add(entry["rule"])
    for found in result.divergences:
        found.rules = sorted(touched.get(found.n, ()))


def _judge_again(spec: Spec, rule_id: str, data: Mapping[str, Any], reply_of, sent_of, started: float,
                 number: int) -> tuple[str, str | None, str]:
    try:
        observation = decode(data, reply_of=reply_of, sent_of=sent_of, started=started, exchange=number)
        found = evaluate(spec, rule_id, observation)
    except Exception as exc:  # noqa: BLE001 - an observation the replay cannot rebuild is no verdict
        return "error", None, f"not judged again ({type(exc).__name__}: {exc})"
    return found.status, found.outcome, found.message


def _differs(recorded: tuple, replayed: tuple) -> bool:
    """Whether two findings differ as verdicts: a pass and a silent skip (nothing to judge in this answer) do not."""
    if recorded[:2] == replayed[:2]:
        return False
    silent = {("pass", None), ("skip", None)}
    return not {(recorded[0], recorded[2] or None), (replayed[0], replayed[2] or None)} <= silent


def _finding(status: str, outcome: str | None) -> str:
    return f"outcome {outcome}" if status == "outcome" else status if outcome is None else f"{status} ({outcome})"


def _references(data: Any) -> set[int]:
    if isinstance(data, dict):
        if "$exchange" in data:
            return {data["$exchange"]}
        return set().union(*(_references(v) for v in data.values())) if data else set()
    if isinstance(data, list):
        return set().union(*(_references(v) for v in data)) if data else set()
    return set()


MAX_LISTED = 40  # divergences printed; --report holds them all


def summary(spec: Spec, result: Parity) -> str:
    """What the console shows: each undeclared divergence by JSON path with the rules it touches, then the rules."""
    lines = [f"parity: {result.replayed} of {result.exchanges} exchanges of {result.cassette} replayed against "
             f"{result.target}" + (f" ({len(result.not_replayed)} not replayable: their reasons are in --report)"
                                   if result.not_replayed else "")]
    undeclared = result.undeclared
    for found in undeclared[:MAX_LISTED]:
        d = found.divergence
        touches = f" [{', '.join(found.rules)}]" if found.rules else ""
        lines.append(f"  #{found.n} {found.scenario or '-'} {found.operation} {d.path} ({d.kind}): recorded "
                     f"{_short(d.recorded)}, replayed {_short(d.replayed)}{touches}")
    if len(undeclared) > MAX_LISTED:
        lines.append(f"  ... and {len(undeclared) - MAX_LISTED} more (--report FILE lists them all)")
    open_rules = {c["rule"] for c in result.changed if spec.rules[c["rule"]].outcomes}
    for title, rules in (("open questions answered differently", open_rules),
                         ("other rules whose findings changed on the recording's path (a run of the suite against "
                          "the target gives their verdicts)", set(result.changed_rules()) - open_rules)):
        if rules:
            lines.append(f"{title}:")
            for rule in sorted(rules):
                first = next(c for c in result.changed if c["rule"] == rule)
                lines.append(f"  {rule}: recorded {first['recorded']}, replayed {first['replayed']} (#{first['exchange']} "
                             f"{first['scenario'] or '-'})")
    declared = len(result.divergences) - len(undeclared)
    lines.append(f"{len(undeclared)} divergence(s)" + (f", {declared} declared" if declared else "") +
                 f"; {result.rejudged} observation(s) judged again, {result.unjudged} not kept by the cassette")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def open_rules_changed(spec: Spec, result: Parity) -> list[str]:
    return sorted(r for r in result.changed_rules() if spec.rules[r].outcomes)


__all__ = ["Declared", "DeclaredError", "Parity", "load_declared", "open_rules_changed", "plain", "recorded_reply",
           "replay", "summary"]
