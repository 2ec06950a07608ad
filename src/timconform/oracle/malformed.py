"""Requests no valid body, URL or query describes: each refused with its own rule's code, importing nothing;
and the transport they travel over."""

from __future__ import annotations

from typing import Any

from timconform.oracle.answers import accepted_call, all_imported, refused
from timconform.oracle.registry import PASS, Observation, check, failure
from timconform.oracle.tables import not_kept
from timconform.spec import Rule, Spec


def plain_http(spec: Spec, rule: Rule, observation: Observation) -> Any:
    """What a target addressed over HTTPS answers over plain HTTP: anything but the REST envelope."""
    reply = observation.reply
    if reply.envelope is not None:
        raise failure(rule, observation, f"Expected no REST answer over plain HTTP at {observation['url']} (a refused "
                                         f"connection, a redirect to https or a page that is not the API). Received "
                                         f"the API's envelope: {reply.describe()}.")
    return PASS


check("FI-HTTPS-ONLY", plain_http=plain_http)
for _rule_id in ("FI-JSON-PARSE-60003", "FI-EMPTY-BODY", "FI-NON-UTF8-BODY", "FI-DEEP-NESTING", "FI-METHOD-POST",
                 "FI-UNKNOWN-COMMAND", "FI-SDKAPPID-MISSING-60012", "FI-QUERY-MISSING", "FI-CONTENTTYPE-PARAM",
                 "FI-QUERY-CASE-SENSITIVE"):
    check(_rule_id, refused=refused, not_kept=not_kept)
check("FI-QUERY-PARAMS", accepted_call=accepted_call)
check("FI-BODY-SIZE", all_imported=all_imported)
