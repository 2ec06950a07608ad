"""Rules about the transport and about clients, judged where they can be and skipped with a reason where not."""

from __future__ import annotations

from timconform.suite.registry import scenario
from timconform.suite.session import Session


@scenario("transport-observations", rules=("FI-HTTPS-ONLY", "FI-REGION-DOMAINS", "FI-SERVER-TIMEOUT",
                                           "FI-EXTRA-FIELDS-TOLERATED", "FI-TRANSIENT-CODES"))
def transport_observations(session: Session) -> None:
    """HTTPS and the region's own domain for a region target; reasons for the rules outside reach."""
    target = session.client.target
    if target.kind == "region":
        session.verify("FI-HTTPS-ONLY", target.base_url.startswith("https://"),
                       f"Expected the region's endpoint to be addressed over HTTPS. Received {target.base_url}.")
        # Any call the region answers for this SDKAppID, rather than with a wrong-region code, shows the domain.
        reply = session.client.call("account_check", {"CheckItem": [{"UserID": session.client.creds.identifier}]})
        wrong_region = session.spec.rules["FI-REGION-DOMAINS"].codes
        session.verify("FI-REGION-DOMAINS", reply.status == 200 and reply.error_code not in wrong_region,
                       f"Expected the region to answer for SDKAppID {session.client.creds.sdkappid}, not with a "
                       f"wrong-region code {list(wrong_region)}. Received HTTP {reply.status}, "
                       f"ErrorCode {reply.error_code}.", reply)
    else:
        reason = "about the real service's region endpoints; plain HTTP to a loopback or test emulator is exempt"
        session.recorder.skipped(["FI-HTTPS-ONLY", "FI-REGION-DOMAINS"], reason)
    session.recorder.skipped(["FI-SERVER-TIMEOUT"], "about clients: the suite's own HTTP timeout (10 s) is longer "
                                                    "than the server's 3 s, so a server-side timeout is seen as such")
    session.recorder.skipped(["FI-EXTRA-FIELDS-TOLERATED"], "about the suite and clients: the response schema "
                                                            "allows fields it does not name")
    session.recorder.skipped(["FI-TRANSIENT-CODES"], "30006 and 30007 appear only under server trouble and cannot "
                                                     "be provoked from outside (the emulator's fault plan makes them)")
