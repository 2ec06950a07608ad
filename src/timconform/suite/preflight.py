"""Before any scenario: one plain, valid, read-only call that proves the target answers and accepts our credentials.

Without it, a target nobody listens on turns every rule into its own Error, and a wrong secret key turns
the run into a page of refusals blamed on the target. With it, each is one line: unreachable (every rule
an Error with that one cause, exit 3) or credentials refused (a configuration error naming the setting
to check, exit 2). Anything else the call gets back, the scenarios judge.
"""

from __future__ import annotations

from collections.abc import Iterable

from timconform.spec import Spec
from timconform.target import ENV_IDENTIFIER, ENV_SDKAPPID, ENV_SECRET_KEY, Client, ConfigurationError, Reply

OPERATION = "account_check"  # read-only, on every tenant, and needs nothing the run has not made yet
# The setting each auth rule's refusal points at. The codes come from the catalogue, through the rules.
SUSPECTS = (
    ("FI-AUTH-USERSIG-WRONG-KEY", ENV_SECRET_KEY),
    ("FI-AUTH-USERSIG-MALFORMED", ENV_SECRET_KEY),
    ("FI-AUTH-USERSIG-EXPIRED", "this machine's clock (the UserSig carries its time)"),
    ("FI-AUTH-USERSIG-IDENTIFIER-MISMATCH", ENV_IDENTIFIER),
    ("FI-AUTH-USERSIG-SDKAPPID-MISMATCH", ENV_SDKAPPID),
    ("FI-AUTH-SDKAPPID-UNKNOWN", ENV_SDKAPPID),
    ("FI-REGION-DOMAINS", "--target (the region that hosts the app)"),
    ("FI-AUTH-ADMIN-REQUIRED", f"{ENV_IDENTIFIER} (it must be an app admin)"),
)


class CredentialsRefused(ConfigurationError):
    """The target refused the run's credentials on a plain valid call: exit 2, one line naming what to check."""


def preflight(client: Client, spec: Spec) -> Reply:
    """Send the call; raise TargetUnavailable (from the client) or CredentialsRefused, else return the reply.

    The call is sent twice with the same UserSig, as the run will send it. A target that accepts the first
    and refuses the second breaks FI-AUTH-USERSIG-REUSE (which the auth-usersig-reuse scenario judges); the
    run then goes on with a UserSig made for every call, which the docs equally allow, so that the one
    fault does not hide every other verdict."""
    reply = _check(client, spec)
    again = client.call(OPERATION, {"CheckItem": [{"UserID": client.creds.identifier}]})
    if _auth_refusal(spec, again.error_code):
        client.usersigs.fresh_per_call = True
        reply = _check(client, spec)
    return reply


def _check(client: Client, spec: Spec) -> Reply:
    reply = client.call(OPERATION, {"CheckItem": [{"UserID": client.creds.identifier}]})
    if _auth_refusal(spec, reply.error_code):
        raise CredentialsRefused(refusal_message(spec, reply.error_code))
    return reply


def _auth_refusal(spec: Spec, code: int | None) -> bool:
    return bool(code) and code in spec.codes and spec.codes[code].klass == "auth"


def refusal_message(spec: Spec, code: int) -> str:
    meaning = spec.codes[code].meaning.rstrip(".")
    where = suspects(spec, code) or ["that the app is enabled and may be called from this machine"]
    return (f"the target refused the run's credentials on a plain valid {OPERATION} call: ErrorCode {code} "
            f"({meaning}); check {_join(where)}")


def suspects(spec: Spec, code: int) -> list[str]:
    return list(dict.fromkeys(setting for rule_id, setting in SUSPECTS if code in spec.rules[rule_id].codes))


def _join(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
