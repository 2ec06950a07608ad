"""Redaction at the sink: secrets never reach stdout, logs, reports, JUnit files or curl commands.

Two layers: structural (the ``usersig`` query parameter is replaced wherever a URL or query is
recorded) and textual (every secret the run knows, the secret key and each UserSig it made, is
replaced in any text before it is written).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PLACEHOLDER = "<redacted>"
SECRET_PARAMS = frozenset({"usersig"})
# A UserSig is zlib+base64 with Tencent's substitutions; compressed JSON always starts "eJ" (zlib header 78 9c/78 01).
_USERSIG_SHAPE = re.compile(r"eJ[0-9A-Za-z*\-_]{40,}")


class Redactor:
    """Knows the run's secrets and removes them from any text."""

    def __init__(self, *secrets: str) -> None:
        self._secrets: set[str] = {s for s in secrets if s}
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def text(self, value: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, PLACEHOLDER)
        return _USERSIG_SHAPE.sub(PLACEHOLDER, value)

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [(k, PLACEHOLDER if k.lower() in SECRET_PARAMS else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return self.text(urlunsplit(parts._replace(query=urlencode(query, safe="<>"))))
