"""Open questions: where the docs are silent, which listed outcome the target shows.

An answer refuses or accepts; where two outcomes give the same answer (ResultCode 0 in both "overwrite" and
"keep"), what is read back afterwards tells them apart. An answer or a state that matches no listed outcome
breaks the rule at its own strength.
"""

from __future__ import annotations

import re
from typing import Any

from timconform.oracle.answers import imported, refused, unreadable
from timconform.oracle.registry import PASS, Observation, Outcome, Skip, check, failure
from timconform.oracle.tables import kept, table
from timconform.spec import Rule, Spec

# Sample failures and official client code use identifiers such as Err_SNS_FriendImport_... (api-facts §7).
IDENTIFIER = re.compile(r"Err_[A-Za-z0-9_]+", re.IGNORECASE)
CLOCK_SKEW = 300  # seconds either side of the run a target's clock may be and still read as "the server time"
NOT_A_FRIEND = "not a friend"


def _read_outcome(rule: Rule, observation: Observation, outcomes: dict[Any, str], expected: str) -> Outcome:
    read = observation["read"]
    for value, outcome in outcomes.items():
        if read == value:
            return Outcome(outcome)
    raise failure(rule, observation, f"Expected {expected}. Received {read!r}.")


def _which_stayed(rule: Rule, observation: Observation, refused: bool, names: tuple[str, str], what: str) -> Any:
    """The text written twice (``first``, then ``second``) reads back as: the first after the second write was
    refused; after both were accepted, the second (``names[0]``) or the first (``names[1]``)."""
    first, second, read = observation["first"], observation["second"], observation["read"]
    if refused:
        if read != first:
            raise failure(rule, observation, f"Expected {what} refused to leave Remark {first!r} stored. "
                                             f"Received {read!r}.")
        return PASS
    return _read_outcome(rule, observation, {second: names[0], first: names[1]},
                         f"{what} accepted to read back Remark {second!r} ({names[0]}) or {first!r} ({names[1]})")


def existing_read(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The Remark a friend imported twice reads back as."""
    return _which_stayed(rule, observation, observation["refused"], ("overwrite", "keep"), "the re-import")


def duplicates(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The answer to one To_Account named twice (``request``, the two items): refused as a whole, or the first
    imported and the later one refused or imported too (which one won, the read-back tells)."""
    reply, items = observation.reply, observation.request
    if not reply.ok:
        return refused(spec, rule, observation)
    results = reply.envelope.get("ResultItem")
    sent = [i["To_Account"] for i in items]
    answered = [r.get("To_Account") if isinstance(r, dict) else None for r in results] \
        if isinstance(results, list) else None
    if answered != sent:  # read by position, only once the answer's To_Accounts are the request's, in order
        return unreadable(rule, observation, f"Expected an accepted request to answer one ResultItem for each of "
                                             f"its {len(items)} items.")
    codes = [r.get("ResultCode") for r in results]
    if codes[0] != 0:
        raise failure(rule, observation, "Expected the first occurrence of a duplicated To_Account to be imported "
                                         f"(or the request refused as a whole). Received ResultCodes {codes}.")
    if codes[1] != 0:
        return refused(spec, rule, Observation("refused", reply=reply, item=1, note=observation.note))
    return PASS


def duplicate_read(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The Remark a To_Account named twice in one request reads back as."""
    return _which_stayed(rule, observation, observation["later_refused"], ("last-wins", "first-wins"),
                         "the later duplicate")


def empty_request(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """AddFriendItem [] is refused, or answered OK with ResultItem []."""
    reply = observation.reply
    if reply.ok and reply.envelope.get("ResultItem") != []:
        # The shape of the answer (ResultItem for nothing requested, Fail_Account) is the response rules' to judge.
        return unreadable(rule, observation, "Expected ResultItem [] for an empty request.")
    return refused(spec, rule, observation)


def tag_ignored(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """An item accepted with a well-formed custom tag that is not configured (``tag``) is a friend without it."""
    values, tag = observation["read"], observation["tag"]
    if values is not None and tag not in values:
        return Outcome("ignored")
    got = NOT_A_FRIEND if values is None else f"{tag}={values[tag]!r}"
    raise failure(rule, observation, f"Expected the item accepted with the unconfigured tag {tag} to be a friend "
                                     f"without that tag (ignored). Received {got}.")


def integer_read(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """An integer custom Value accepted (``sent``) reads back as that integer, or as its decimal text."""
    sent, read = observation["sent"], observation["read"]
    if type(read) is int and read == sent:
        return Outcome("accepted")
    if read == str(sent):
        return Outcome("stringified")
    raise failure(rule, observation, f"Expected the accepted integer Value {sent} to read back as {sent} or "
                                     f"\"{sent}\". Received {read!r}.")


def remark_time_read(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """What friend_get_list shows besides the standard tags (``exposed``; None when the target refused the tag
    name itself): nothing, or RemarkTime under ``tag`` as imported (``sent``)."""
    exposed, tag, sent = observation["exposed"], observation["tag"], observation["sent"]
    if not exposed:
        return Outcome("not-exposed")
    if exposed.get(tag) == sent:
        return Outcome("exposed-verbatim")
    raise failure(rule, observation, f"Expected {tag} absent or equal to the imported RemarkTime {sent}. "
                                     f"Received {exposed}.")


def addtime_read(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """Tag_SNS_IM_AddTime reads back as the AddTime sent, or as the server's time of the import (between
    ``started`` and ``now``, give or take the clock skew)."""
    sent, read = observation["sent"], observation["read"]
    if read == sent:
        return Outcome("verbatim")
    if type(read) is int and observation["started"] - CLOCK_SKEW <= read <= observation["now"] + CLOCK_SKEW:
        return Outcome("server-time")
    raise failure(rule, observation, f"Expected Tag_SNS_IM_AddTime to read back as the AddTime sent ({sent}) or as "
                                     f"the time of the import. Received {read!r}.")


def case_agrees(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The friend table agrees with the outcome an answer showed for a UserID in other letter case: the account
    (``account``) is a friend exactly when the target took the variant for it (same-account)."""
    outcome, stored = observation["outcome"], observation["stored"]
    if stored != (outcome == "same-account"):
        want = "a friend" if outcome == "same-account" else "no friend"
        raise failure(rule, observation, f"Expected the friend table to agree with the answer ({outcome}): "
                                         f"{observation.account} {want} of {observation['owner']}. Received "
                                         f"{'a friend' if stored else 'no friend'}.")
    return PASS


def _verbatim(value: Any) -> Any:
    return value


def _replaced(value: Any) -> Any:
    if isinstance(value, list):
        return [_replaced(v) for v in value]
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def _text_read(outcome: str, shown):
    """The judgement of a text accepted (``sent``, under ``tag``): it reads back as ``outcome`` shows it."""

    def read(spec: Spec, rule: Rule, observation: Observation) -> Any:
        sent, tag, read_value = observation["sent"], observation["tag"], observation["read"]
        if read_value == shown(sent):
            return Outcome(outcome)
        raise failure(rule, observation, f"Expected {tag} of the accepted item {observation.account} to read back as "
                                         f"the outcome {outcome} ({sent!r}). Received {read_value!r}.")
    return read


def failure_texts(reply) -> list[str]:
    """The non-empty failure texts of an answer: its ErrorInfo when refused, else each failed item's ResultInfo."""
    body = reply.body
    if not isinstance(body, dict):
        return []
    if body.get("ActionStatus") == "FAIL" or body.get("ErrorCode") not in (0, None):
        texts = [body.get("ErrorInfo")]
    else:
        texts = [i.get("ResultInfo") for i in body.get("ResultItem") or () if isinstance(i, dict) and i.get("ResultCode")]
    return [t for t in texts if isinstance(t, str) and t]  # an empty text is FI-RESULTINFO-SET-ON-FAILURE's business


def text_style(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """The style of one failure text (``text``): the wording is never a reason to fail a target."""
    return Outcome("identifier" if IDENTIFIER.fullmatch(observation["text"]) else "free-text")


def random_repeat(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A valid import sent with the random of an earlier one: refused, or accepted and stored (``stored``), or
    accepted and not stored (deduplicated)."""
    if not observation.reply.ok:
        return Outcome("rejected")
    return Outcome("accepted" if observation["stored"] else "deduplicated")


def oversize(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """A valid body padded past any valid request's size: processed, refused in the envelope, or HTTP 413."""
    if observation.reply.status == 413:  # a front-end refusal the open rule lists; not a break of FI-HTTP-200
        return Outcome("http-413")
    return refused(spec, rule, observation)


def repeated_copies(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """usersig given twice (``copies``: whether the valid value came first, and the answer): the answer shows
    which copy the target read, and it reads the same one whichever is valid."""
    copies = observation["copies"]
    if all(reply.ok for _, reply in copies):
        # Whichever copy it read, the target accepted a usersig that is none in one of the two requests.
        return Skip("not reached: the target accepts the usersig 'not-a-usersig' (FI-AUTH-USERSIG-MALFORMED), so "
                    "which copy it reads cannot be told")
    sig_codes = set(spec.rules["FI-AUTH-USERSIG-MALFORMED"].codes)
    shown = []
    for valid_first, reply in copies:
        if reply.envelope is None:  # judged as an answer by FI-HTTP-200 / FI-ENVELOPE-SHAPE: no outcome in it
            continue
        on = Observation("copies", reply=reply)
        if reply.ok:
            shown.append("first-wins" if valid_first else "last-wins")
        elif reply.error_code in rule.codes:
            shown.append("reject-60002")
        elif reply.error_code in sig_codes:
            shown.append("last-wins" if valid_first else "first-wins")
        else:
            raise failure(rule, on, f"Expected one of the outcomes reject-60002, first-wins, last-wins for usersig "
                                    f"given twice, the valid value {'first' if valid_first else 'last'}. Received "
                                    f"ErrorCode {reply.error_code}.")
    if not shown:
        return unreadable(rule, Observation("copies", reply=copies[0][1]), "Expected an outcome for usersig given twice.")
    if len(set(shown)) > 1:
        raise failure(rule, observation, f"Expected the same outcome whichever copy of usersig is valid. Received "
                                         f"{shown[0]} with the valid value first, {shown[1]} with it last.")
    return Outcome(shown[0])


check("FI-LIMIT-CUSTOM-TAG-CONFIGURED", refused=refused, ignored=tag_ignored)
check("FI-QUERY-REPEATED", copies=repeated_copies)
check("OPEN-EXISTING-FRIEND", refused=refused, read=existing_read)
check("OPEN-UNKNOWN-TO-ACCOUNT-LEVEL", refused=refused, imported=imported, table=table)
check("OPEN-SELF-IMPORT", refused=refused, kept=kept)
check("OPEN-DUPLICATE-TO-ACCOUNT", duplicates=duplicates, read=duplicate_read)
check("OPEN-EMPTY-ADDFRIENDITEM", empty=empty_request)
check("OPEN-BATCH-OVERSIZE-CODE", refused=refused)
check("OPEN-CONTENT-TYPE-HEADER", refused=refused)
check("OPEN-UNKNOWN-QUERY-PARAM", refused=refused)
check("OPEN-RANDOM-REUSE", repeat=random_repeat)
check("OPEN-RANDOM-OUT-OF-RANGE", refused=refused)
check("OPEN-REMARKTIME-READBACK", read=remark_time_read)
check("OPEN-ADDTIME-READBACK", read=addtime_read)
check("OPEN-CUSTOM-VALUE-INTEGER", refused=refused, read=integer_read)
check("OPEN-REQUEST-SIZE-LIMIT", oversize=oversize)
check("OPEN-TIME-FIELD-RANGE", refused=refused, kept=kept)
check("OPEN-USERID-CASE", refused=refused, agrees=case_agrees)
check("OPEN-TEXT-CONTROL-CHARS", refused=refused, read=_text_read("stored-verbatim", _verbatim))
check("OPEN-TEXT-LONE-SURROGATE", refused=refused, read=_text_read("stored-replaced", _replaced))
check("OPEN-RESULTINFO-TEXT", text=text_style)
