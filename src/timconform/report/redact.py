"""Redaction at the sink: secrets never reach stdout, logs, reports, JUnit files or curl commands.

Two layers: structural (the ``usersig`` query parameter is replaced wherever a URL or query is
recorded) and textual (every secret the run knows, the secret key and each UserSig it made, is
replaced in any text before it is written, as it is and URL-encoded, and anything shaped like a
UserSig of any zlib level is replaced too).

A secret is replaced where it stands as a whole token, never inside a longer word: with a one-letter
test key "k", "Skip" stays "Skip". A secret too short to be told from ordinary text (under
MIN_SAFE_LENGTH characters) is reported by :attr:`Redactor.weak`, and the command warns once.
"""

from __future__ import annotations

import functools
import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

PLACEHOLDER = "<redacted>"
SECRET_PARAMS = frozenset({"usersig"})
MIN_SAFE_LENGTH = 16
# A UserSig is zlib+base64 with Tencent's substitutions (+/= -> *-_). The zlib header makes its first three
# characters: 78 01 (levels 0-1, as the Go library writes it) "eA[E-H]", 78 5e (2-5) "eF[4-7]", 78 9c (the
# default) "eJ[w-z]", 78 da (7-9) "eN[o-r]". A '*' may stand URL-encoded as %2A.
_USERSIG_SHAPE = re.compile(r"(?<![0-9A-Za-z])e(?:A[E-H]|F[4-7]|J[w-z]|N[o-r])(?:[0-9A-Za-z\-_*]|%2[Aa]){40,}")
_WORD = "0-9A-Za-z"


@functools.lru_cache(maxsize=4096)
def _token(secret: str) -> re.Pattern[str]:
    """``secret`` where it stands alone: not preceded or followed by a letter or digit."""
    return re.compile(f"(?<![{_WORD}]){re.escape(secret)}(?![{_WORD}])")


class Redactor:
    """Knows the run's secrets and removes them from any text."""

    def __init__(self, *secrets: str) -> None:
        self._forms: dict[str, None] = {}  # each secret as it is and URL-encoded, longest first when used
        self._lock = threading.Lock()
        self.weak: list[int] = []  # the lengths of secrets too short to redact safely
        for secret in secrets:
            self.add(secret)

    @property
    def _secrets(self) -> set[str]:
        return set(self._forms)

    def add(self, secret: str) -> None:
        if not secret or secret in self._forms:
            return
        with self._lock:
            for form in (secret, quote_plus(secret), quote(secret, safe="")):
                self._forms.setdefault(form, None)
            if len(secret) < MIN_SAFE_LENGTH:
                self.weak.append(len(secret))

    def text(self, value: str) -> str:
        with self._lock:
            forms = list(self._forms)
        # A substring search per secret first (C speed: a run that makes a UserSig per call knows thousands);
        # only a secret that is there is replaced, and only where it stands as a whole token.
        present = sorted((f for f in forms if f in value), key=len, reverse=True)
        for form in present:
            value = _token(form).sub(PLACEHOLDER, value)
        return _USERSIG_SHAPE.sub(PLACEHOLDER, value)

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [(k, PLACEHOLDER if k.lower() in SECRET_PARAMS else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return self.text(urlunsplit(parts._replace(query=urlencode(query, safe="<>"))))

    def warning(self) -> str | None:
        """One line for the user when a secret is too short to be redacted everywhere it appears."""
        if not self.weak:
            return None
        return (f"warning: a secret of {min(self.weak)} characters is redacted only where it stands alone; "
                f"inside longer words it cannot be told from ordinary text (use a key of {MIN_SAFE_LENGTH}+ characters)")
