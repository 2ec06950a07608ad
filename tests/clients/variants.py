#!/usr/bin/env python3
"""The client corpus: the reference client (examples/reference_client.py) with one defect each.

    python tests/clients/variants.py NAME          (a certify-client adapter: timconform certify-client -- ...)

Each variant changes one method of the reference client, the way a client written in a hurry gets one
thing wrong; tests/test_client_corpus.py certifies each and checks its exact grade, so a grade that blames
a client for what it did not do shows up here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlencode

_SPEC = importlib.util.spec_from_file_location(
    "reference_client", Path(__file__).resolve().parents[2] / "examples" / "reference_client.py")
ref = importlib.util.module_from_spec(_SPEC)
sys.modules["reference_client"] = ref  # dataclasses look their module up by name
_SPEC.loader.exec_module(ref)


class NoRandom(ref.FriendImportClient):
    """Sends no random at all (the query built by hand, one parameter forgotten)."""

    def _post(self, path, body):
        original = ref.urlencode
        ref.urlencode = lambda pairs: urlencode({k: v for k, v in dict(pairs).items() if k != "random"})
        try:
            return super()._post(path, body)
        finally:
            ref.urlencode = original


class MalformedUserSig(ref.FriendImportClient):
    """Makes its UserSig without the zlib step (base64 of the JSON document itself)."""

    def _current_usersig(self):
        sig = super()._current_usersig()
        packed = ref.base64.b64decode(sig.translate(str.maketrans("*-_", "+/=")))
        plain = ref.zlib.decompress(packed)
        return ref.base64.b64encode(plain).decode("ascii").translate(str.maketrans("+/=", "*-_"))


class ShortTimeout(ref.FriendImportClient):
    """Gives up on an answer after 1 s (under the documented 3 s server timeout) and takes that as final."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "timeout": 1.0})

    def _post(self, path, body):
        status, answer, problem = super()._post(path, body)
        if problem is not None and status is None:
            raise ref.RequestFailed(-1, f"gave up: {problem}")
        return status, answer, problem


class NoTimeout(ref.FriendImportClient):
    """Waits for an answer as long as it takes (no timeout at all): allowed, since the server answers within 3 s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "timeout": None})


class ImmediateRetries(ref.FriendImportClient):
    """Retries a transient failure at once, with no backoff."""

    def _backoff(self, attempt):
        pass


class RetriesPermanent(ref.FriendImportClient):
    """Sends the items refused with a permanent code (30003: no such account) once more, hoping."""

    def import_friends(self, from_account, items):
        result = super().import_friends(from_account, items)
        again = [i for i in items if i["To_Account"] in result.failed]
        if again:
            second = super().import_friends(from_account, again)
            for account in second.imported:
                result.failed.pop(account, None)
                result.imported.append(account)
        return result


class SwallowsPartialFailures(ref.FriendImportClient):
    """Reports success whatever the answer: failed items are dropped from the result."""

    def import_friends(self, from_account, items):
        result = super().import_friends(from_account, items)
        result.failed.clear()
        return result


class ResendsRefusedUserSig(ref.FriendImportClient):
    """Retries after 70001 with the same UserSig instead of making a new one."""

    def _renew_usersig(self):
        pass


VARIANTS = {"reference": ref.FriendImportClient, "no-random": NoRandom, "malformed-usersig": MalformedUserSig,
            "short-timeout": ShortTimeout, "no-timeout": NoTimeout, "immediate-retries": ImmediateRetries,
            "retries-permanent": RetriesPermanent, "swallows-partial-failures": SwallowsPartialFailures,
            "resends-refused-usersig": ResendsRefusedUserSig}


def main() -> int:
    client_class = VARIANTS[sys.argv[1]]
    with open(os.environ["TIMCONFORM_SCENARIO_INPUT"], encoding="utf-8") as handle:
        data = json.load(handle)
    client = client_class.from_env()
    ok = True
    for one in data if isinstance(data, list) else [data]:
        ok = client.import_friends(one["From_Account"], one["AddFriendItem"]).ok and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
