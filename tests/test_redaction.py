"""Redaction replaces whole tokens, URL-encoded secrets and UserSigs of every zlib level (issue 15, point 4)."""

from __future__ import annotations

import base64
import json
import zlib
from urllib.parse import quote, quote_plus

import pytest

from timconform import usersig, usersig_styles
from timconform.report.redact import PLACEHOLDER, Redactor

KEY = "0123456789abcdef" * 4


def test_a_one_character_key_leaves_ordinary_words_intact_and_warns() -> None:
    redactor = Redactor("k")
    assert redactor.text("Skip: 3 checks, key k") == f"Skip: 3 checks, key {PLACEHOLDER}"
    assert json.loads(redactor.text(json.dumps({"checks": 1, "k": "k"}))) == {"checks": 1, PLACEHOLDER: PLACEHOLDER}
    assert redactor.warning() and "1 characters" in redactor.warning()
    assert Redactor(KEY).warning() is None


def _sig_with_star() -> str:
    """A UserSig whose text holds '*' (so its URL-encoded form differs from it): made until one does."""
    for expire in range(86400, 86400 + 500):
        sig = usersig.generate(1400000000, "administrator", KEY, expire=expire, now=1_700_000_000)
        if "*" in sig[10:-10]:
            return sig
    raise AssertionError("no UserSig with '*' found")


@pytest.mark.parametrize("encode", [quote_plus, lambda s: quote(s, safe=""), lambda s: s], ids=["plus", "quote", "raw"])
def test_a_usersig_echoed_url_encoded_is_redacted_whole(encode) -> None:
    sig = _sig_with_star()
    redactor = Redactor(KEY)
    redactor.add(sig)
    echoed = f'{{"ErrorInfo":"bad usersig={encode(sig)}&random=1"}}'
    out = redactor.text(echoed)
    assert out == f'{{"ErrorInfo":"bad usersig={PLACEHOLDER}&random=1"}}'
    # And without knowing the secret, by its shape alone (a UserSig of someone else's run).
    assert Redactor().text(echoed) == out


@pytest.mark.parametrize("level", [0, 1, 4, 6, 9])
def test_usersigs_of_every_zlib_level_are_recognised_by_their_shape(level: int) -> None:
    doc = json.dumps({"TLS.ver": "2.0", "TLS.identifier": "administrator", "TLS.sdkappid": 1400000000,
                      "TLS.expire": 86400, "TLS.time": 1_700_000_000, "TLS.sig": "x" * 44}).encode()
    sig = base64.b64encode(zlib.compress(doc, level)).decode().translate(str.maketrans("+/=", "*-_"))
    assert Redactor().text(f"usersig {sig} end") == f"usersig {PLACEHOLDER} end"


def test_go_style_usersigs_are_redacted_by_shape() -> None:
    sig = usersig_styles.padded("go", "administrator", 1400000000, KEY, 1_700_000_000)
    assert sig.startswith("eAE")  # zlib level 0: 78 01, then a stored block
    assert PLACEHOLDER in Redactor().text(sig) and sig[-20:] not in Redactor().text(sig)
