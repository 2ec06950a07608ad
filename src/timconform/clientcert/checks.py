"""Hands what a client sent to the CL- checks (timconform.oracle.client): one request at a time, then the
stream of requests of one process. Certify-client and the validating proxy both grade through this."""

from __future__ import annotations

from collections.abc import Sequence

from timconform.clientcert.recording import Recorded
from timconform.oracle.client import REQUEST_RULES, STREAM_RULES, Expected
from timconform.oracle.recorder import Recorder
from timconform.oracle.registry import Observation, judge
from timconform.spec import Spec

FRIEND_IMPORT_ONLY = ("CL-REQUEST-VALID", "CL-JSON-CONTENT-TYPE", "CL-BATCH-1000")

__all__ = ["REQUEST_RULES", "STREAM_RULES", "Checker", "Expected"]


class Checker:
    def __init__(self, spec: Spec, recorder: Recorder) -> None:
        self.spec, self.recorder = spec, recorder

    def request(self, record: Recorded, expected: Expected, label: str = "") -> None:
        """Every per-request rule on one /v4/ request (the body's rules on friend_import only)."""
        observation = Observation("request", note=label, facts={"record": record, "expected": expected})
        for rule_id in REQUEST_RULES:
            if record.operation == "friend_import" or rule_id not in FRIEND_IMPORT_ONLY:
                judge(self.spec, self.recorder, rule_id, observation)

    def stream(self, records: Sequence[Recorded], label: str = "") -> None:
        """Rules about the sequence of requests one client process made."""
        api = [r for r in records if r.path.startswith("/v4/")]
        if not api:
            return
        observation = Observation("stream", note=label, facts={"records": api})
        for rule_id in STREAM_RULES:
            judge(self.spec, self.recorder, rule_id, observation)
