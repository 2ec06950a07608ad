"""FI-HTTPS-ONLY: what a target addressed over HTTPS serves over plain HTTP."""

from __future__ import annotations

from timconform.suite.registry import scenario
from timconform.suite.session import Session, item

RULE = "FI-HTTPS-ONLY"
# Names no account has, so even a target that ignored the (invalid) signature would store nothing real.
PROBE_FROM, PROBE_TO = "timconform_https_probe_a", "timconform_https_probe_b"
NOT_A_USERSIG = "timconform-plain-http-probe"


@scenario("https-only", rules=(RULE,), needs=("https",))
def https_only(session: Session) -> None:
    """An https:// target does not also answer the REST API over plain http:// on the same host and path."""
    base = session.client.target.base_url
    plain = "http://" + base[len("https://"):]
    # The UserSig is not one: nothing secret crosses the network in clear, whatever the host does with it.
    reply = session.client.call("friend_import", {"From_Account": PROBE_FROM, "AddFriendItem": [item(PROBE_TO)]},
                                query={"usersig": NOT_A_USERSIG}, base_url=plain)
    session.judge(RULE, "plain_http", reply, url=plain)
