"""The cassette: every exchange of a run with a target, one JSON object per line, redacted like every report.

Line 1 is the header (``"type": "header"``): the target, the suite version, the run's account prefix and the
moment it started. Each later line is one exchange (``"type": "exchange"``): the scenario it belongs to, the
request as sent (the query string with ``<usersig:N>``, ``<random>``, ``<sdkappid>`` and ``<identifier>``
standing for what a replay supplies itself), the answer as received (its body as the exact text, so field
order survives), and ``judged``: each rule checked on it, with what the check found and the observation it
saw (parity/observations.py), so that ``timconform parity`` can judge it again on another target's answers.

No secret is written: a UserSig is described (who for, which key: "app" or "other", its lifetime), never
kept; the secret key and anything shaped like a UserSig are redacted from every text. A request that carried
a secret the description cannot stand for is marked ``"replay": <why not>``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from timconform.parity.observations import NotRecordable, encode
from timconform.report.redact import PLACEHOLDER, Redactor

VERSION = 1
MAX_BODY = 8 << 20  # a request body over 8 MiB (the padded oversize probe) is described, not kept
SETUP_OPERATIONS = frozenset({"multiaccount_import", "account_import"})
MIN_CUT = 8  # a UserSig cut shorter than this is no recognisable part of one


@dataclass
class _Pending:
    number: int
    scenario: str | None
    sent: Any
    reply: Any
    why_not: str | None = None  # the scenario's reason its exchanges cannot be replayed one after another
    judged: list[dict[str, Any]] = field(default_factory=list)
    observations: list[dict[str, Any]] = field(default_factory=list)
    encoded: dict[int, int] = field(default_factory=dict)  # id(observation) -> index into observations
    seen: list[Any] = field(default_factory=list)  # the observations themselves: their ids stay theirs


class CassetteWriter:
    """A Client tap and a Recorder listener that writes the cassette, a scenario at a time."""

    def __init__(self, path: Path, *, redactor: Redactor, usersigs: Any, creds: Any, header: Mapping[str, Any]) -> None:
        self.path, self._redactor, self._usersigs, self._creds = path, redactor, usersigs, creds
        self.started = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._by_exchange: dict[int, _Pending] = {}
        self._sig_numbers: dict[str, int] = {}
        self.scenario: str | None = None
        self.not_replayable: str | None = None  # set while a scenario whose order or timing matters runs
        self.count = 0
        self._write({"type": "header", "cassette": VERSION, "started": self.started, **header})

    # -- the tap: every request and its reply ------------------------------------------------------

    def __call__(self, sent: Any, reply: Any, *, retried: bool = False) -> None:
        with self._lock:
            self.count += 1
            # Accounts a scenario imports are used by later ones: their import is replayed wherever it happened.
            why_not = None if sent.operation in SETUP_OPERATIONS else self.not_replayable
            if retried:
                why_not = "the client retried this attempt (network trouble, HTTP 502-504 or a rate-limit code)"
            elif reply.exchange.error is not None:
                why_not = why_not or "the recording got no answer to it"
            pending = _Pending(self.count, self.scenario, sent, reply, why_not)
            self._pending.append(pending)
            self._by_exchange[id(reply.exchange)] = pending

    def judged(self, rule_id: str, observation: Any, found: Any) -> None:
        """A check's finding, kept with the exchange it judged (or the newest one its facts came from)."""
        with self._lock:
            pending = self._home(observation)
            if pending is None:
                return
            entry = {"rule": rule_id, "status": found.status}
            if found.outcome:
                entry["outcome"] = found.outcome
            if found.message:
                entry["message"] = self._redactor.text(found.message)[:300]
            index = pending.encoded.get(id(observation))
            if index is None:
                try:
                    data = encode(observation, exchange_of=self._number, started=self.started,
                                  body_of=lambda value: _part_of(pending.sent.body, value))
                    data = json.loads(self._redactor.text(json.dumps(data, ensure_ascii=False)))
                except (NotRecordable, TypeError, ValueError) as exc:
                    data = {"unrecordable": str(exc)}
                pending.observations.append(data)
                pending.seen.append(observation)
                index = pending.encoded[id(observation)] = len(pending.observations) - 1
            entry["observation"] = index
            pending.judged.append(entry)

    def _number(self, reply: Any) -> int | None:
        pending = self._by_exchange.get(id(getattr(reply, "exchange", None)))
        return pending.number if pending is not None else None

    def _home(self, observation: Any) -> _Pending | None:
        pending = self._by_exchange.get(id(getattr(observation.reply, "exchange", None)))
        if pending is None and self._pending:
            pending = self._pending[-1]
        return pending

    # -- writing ------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the exchanges held so far (a scenario's, once it is over)."""
        with self._lock:
            pending, self._pending, self._by_exchange = self._pending, [], {}
            for entry in pending:
                self._write(self._line(entry))
            self._file.flush()

    def close(self) -> None:
        self.flush()
        self._write({"type": "footer", "ended": time.time(), "exchanges": self.count})
        self._file.close()

    def _write(self, line: Mapping[str, Any]) -> None:
        # ASCII: a fact may hold an unpaired surrogate (OPEN-TEXT-LONE-SURROGATE), which UTF-8 cannot carry.
        self._file.write(json.dumps(line, ensure_ascii=True, separators=(",", ":")) + "\n")

    def _line(self, entry: _Pending) -> dict[str, Any]:
        sent, reply, text = entry.sent, entry.reply, self._redactor.text
        query, sigs, why_not = self._query(sent)
        why_not = entry.why_not or why_not
        line: dict[str, Any] = {"type": "exchange", "n": entry.number, "scenario": entry.scenario,
                                "operation": sent.operation, "method": sent.method, "path": sent.path,
                                "query": query, "usersigs": sigs,
                                "headers": {k: text(v) for k, v in sent.headers.items()}}
        if len(sent.content) > MAX_BODY:
            line["body_size"] = len(sent.content)
            why_not = why_not or f"its {len(sent.content)}-byte body is not kept in the cassette"
        else:
            try:
                body = sent.content.decode("utf-8")
            except UnicodeDecodeError:  # kept byte for byte (the non-UTF-8 probes)
                line["body_base64"] = base64.b64encode(sent.content).decode("ascii")
            else:
                line["body"] = text(body)
                if line["body"] != body:
                    why_not = why_not or "its body carried a secret"
        if sent.elsewhere is not None:
            why_not = why_not or f"sent to {self._redactor.url(sent.elsewhere)}, not to the target"
        exchange = reply.exchange
        if exchange.error is not None:
            line["error"] = exchange.error
        else:
            line["status"] = exchange.status
            line["response_headers"] = dict(exchange.response_headers)
            line["response"] = exchange.response_body
        line["elapsed_ms"] = round(exchange.elapsed_ms, 1)
        if why_not:
            line["replay"] = why_not
        line["judged"] = entry.judged
        line["observations"] = entry.observations
        return line

    def _query(self, sent: Any) -> tuple[str, dict[str, Any], str | None]:
        """The query string with what a replay supplies as tokens; the UserSigs it names, described."""
        pieces, sigs, why_not = [], {}, None
        for piece in sent.query.split("&") if sent.query else []:
            key, eq, value = piece.partition("=")
            name, plain = unquote_plus(key), unquote_plus(value)
            if name == "usersig" and plain:
                # No UserSig at all ("not-a-usersig") is kept as sent; one the run made is described; anything
                # secret-like that no description stands for is never kept, and its line is not replayable.
                described = self._describe(plain)
                if described is not None:
                    number, description = described
                    sigs[str(number)] = description
                    value = f"<usersig:{number}>"
                elif self._redactor.text(plain) != plain:
                    value, why_not = PLACEHOLDER, "its UserSig is none the run made, so the cassette cannot describe it"
            elif name == "random" and sent.fresh_random:
                value = "<random>"
            elif name.lower() == "sdkappid" and plain == str(self._creds.sdkappid):  # Identifier=, SDKAppID= too
                value = "<sdkappid>"
            elif name.lower() == "identifier" and plain == self._creds.identifier:
                value = "<identifier>"
            pieces.append(f"{key}{eq}{value}")
        query = "&".join(pieces)
        redacted = self._redactor.text(query)
        if redacted != query:
            why_not = why_not or "its query carried a secret the cassette cannot describe"
        return redacted, sigs, why_not

    def _describe(self, sig: str) -> tuple[int, dict[str, Any]] | None:
        described = self._usersigs.described
        whole = described.get(sig)
        cut = None
        if whole is None and len(sig) >= MIN_CUT:
            source = next((s for s in described if s.startswith(sig) and s != sig), None)
            if source is not None:
                whole, cut = described[source], len(sig)
        if whole is None:
            return None
        description = {k: v for k, v in whole.items() if v is not None}
        if description.get("identifier") == self._creds.identifier:
            description["identifier"] = "<identifier>"
        if isinstance(description.get("sdkappid"), int) and abs(description["sdkappid"] - self._creds.sdkappid) <= 10:
            # "the app's plus one" (FI-AUTH-USERSIG-SDKAPPID-MISMATCH), not a number: a replay's app has its own.
            description["sdkappid_offset"] = description.pop("sdkappid") - self._creds.sdkappid
        if cut is not None:
            description["cut"] = cut
        key = json.dumps(description, sort_keys=True)
        number = self._sig_numbers.setdefault(key, len(self._sig_numbers) + 1)
        return number, description


def _part_of(body: Any, value: Any) -> str | None:
    if body is None or isinstance(value, (str, int, float, bool)) or value is None:
        return None
    if value is body:
        return "body"
    if isinstance(body, dict) and value is body.get("AddFriendItem"):
        return "AddFriendItem"
    return None


# -- reading --------------------------------------------------------------------------------------------

class CassetteError(ValueError):
    """A file that is not a cassette this version reads: one line for the user, exit code 2."""


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header (with ``ended`` from the footer, when the recording finished) and the exchanges."""
    lines = list(_lines(path))
    if not lines or lines[0].get("type") != "header":
        raise CassetteError(f"{path} is no timconform cassette (its first line is not a header)")
    header = lines[0]
    if header.get("cassette") != VERSION:
        raise CassetteError(f"{path} is a cassette of version {header.get('cassette')!r}; this timconform reads "
                            f"version {VERSION}")
    _check(path, lines)
    footer = next((line for line in lines if line.get("type") == "footer"), {})
    header = {**header, "ended": footer.get("ended", header.get("ended"))}
    return header, [line for line in lines[1:] if line.get("type") == "exchange"]


def _check(path: Path, lines: list[dict[str, Any]]) -> None:
    """Every line against schemas/cassette.schema.json, then what a schema cannot say: numbers unique, every
    <usersig:N> described, every answer an observation names in the cassette, base64 that decodes."""
    from timconform import spec as spec_module

    validator = spec_module.load().validator("cassette.schema.json")
    numbers: set[int] = set()
    for index, line in enumerate(lines, 1):
        error = next(iter(sorted(validator.iter_errors(line), key=lambda e: len(list(e.absolute_path)))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise CassetteError(f"{path}: line {index} is no cassette line (at /{where}: {error.message[:160]})")
        if line["type"] == "exchange":
            if line["n"] in numbers:
                raise CassetteError(f"{path}: line {index} repeats exchange number {line['n']}")
            numbers.add(line["n"])
            _check_exchange(path, index, line)
    referenced = {n for line in lines if line["type"] == "exchange" for n in _exchange_refs(line["observations"])}
    if referenced - numbers:
        raise CassetteError(f"{path}: an observation names exchange {min(referenced - numbers)}, which is not in it")


def _check_exchange(path: Path, index: int, line: dict[str, Any]) -> None:
    tokens = {int(t) for t in re.findall(r"<usersig:([0-9]+)>", line.get("query") or "")}
    missing = tokens - {int(k) for k in line.get("usersigs", {})}
    if missing:
        raise CassetteError(f"{path}: line {index} names <usersig:{min(missing)}> without describing it")
    if "body_base64" in line:
        try:
            base64.b64decode(line["body_base64"], validate=True)
        except ValueError:
            raise CassetteError(f"{path}: line {index} has a body_base64 that is not base64") from None
    for entry in line["judged"]:
        if "observation" in entry and entry["observation"] >= len(line["observations"]):
            raise CassetteError(f"{path}: line {index} judges observation {entry['observation']}, which it lacks")


def _exchange_refs(value: Any) -> set[int]:
    if isinstance(value, dict):
        found = {value["$exchange"]} if isinstance(value.get("$exchange"), int) else set()
        if "$exchange" in value and not found:
            return {-1}  # not a number: no exchange has it
        return found.union(*(_exchange_refs(v) for v in value.values())) if value else found
    if isinstance(value, list):
        return set().union(*(_exchange_refs(v) for v in value)) if value else set()
    return set()


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError as exc:
                    raise CassetteError(f"{path}:{number} is not JSON ({exc})") from None
                except RecursionError:
                    raise CassetteError(f"{path}:{number} is nested too deeply") from None
                if not isinstance(line, dict):
                    raise CassetteError(f"{path}:{number} is not a JSON object")
                yield line
    except OSError as exc:
        raise CassetteError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CassetteError(f"{path} is not UTF-8 text") from None

