"""UserSig v2: fixed vectors (clients.md §4), interop with PyPI tls-sig-api-v2, each reject reason."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from timconform import usersig
from timconform.usersig import Reason, UserSigError, Verifier, decode, generate, verify

KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
APPID, ADMIN, T0, EXPIRE = 1400000000, "administrator", 1764000000, 86400
EXPECTED_SIG = "rPANIbGJXoD0mq76vRSJKSsRfl7E0dHaGyOLgfyM9p8="
# clients.md §4: same TLS.sig, different JSON serialisation, hence different strings.
PY_VECTOR = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkElNyM-Myi0uKEkvyi2BKilOyEwsKMlOACgxNDKAAKpdaUZBZlAqUsTAzgQuWZOaCh"
    "AzNzUxQFBdnpoMsKQpw9PNMcveKyHcxyC00NysLCvbyDi4OSssxdzVI8Uh0r-T3SU*r9LUssLBVqgUAQKw1Vg__"
)
NODE_VECTOR = (
    "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5mcUlRYkl*UVQBcUp2YkFBZkpSlaGJgZQAJEpycxNVbIyNDczQRZNrSjILEpVsrI"
    "ACUONyExXslIqCnD080xy94rIdzHILTQ3KwsK9vIOLg5KyzF3NUjxSHSv9PdJT6v0tSywsFWqBQCwWTP2"
)
VECTORS = pytest.mark.parametrize("sig", [PY_VECTOR, NODE_VECTOR], ids=["python", "node"])


def pack(payload: bytes, level: int = -1) -> str:
    """Encode raw JSON bytes the way every official generator does after serialising."""
    b64 = base64.b64encode(zlib.compress(payload, level)).decode()
    return b64.replace("+", "*").replace("/", "-").replace("=", "_")


def signed_doc(*, key: str = KEY, t: int = T0, order: tuple[str, ...] | None = None) -> dict:
    content = f"TLS.identifier:{ADMIN}\nTLS.sdkappid:{APPID}\nTLS.time:{t}\nTLS.expire:{EXPIRE}\n"
    sig = base64.b64encode(hmac.new(key.encode(), content.encode(), hashlib.sha256).digest()).decode()
    doc = {"TLS.ver": "2.0", "TLS.identifier": ADMIN, "TLS.sdkappid": APPID,
           "TLS.expire": EXPIRE, "TLS.time": t, "TLS.sig": sig}
    return {k: doc[k] for k in order} if order else doc


def check(sig: str, now: float = T0, **kw) -> dict:
    args = {"sdkappid": APPID, "identifier": ADMIN, "secret_key": KEY, "now": now, **kw}
    return verify(sig, **args)


def reason_of(sig: str, **kw) -> Reason:
    with pytest.raises(UserSigError) as info:
        check(sig, **kw)
    return info.value.reason


# --- fixed vectors -----------------------------------------------------------------------

@VECTORS
@pytest.mark.parametrize("now", [T0, T0 + EXPIRE, T0 + EXPIRE + 0.999])
def test_vector_valid_until_and_including_time_plus_expire(sig, now):
    assert check(sig, now=now)["TLS.sig"] == EXPECTED_SIG


@VECTORS
def test_vector_expires_one_second_after_time_plus_expire(sig):
    assert reason_of(sig, now=T0 + EXPIRE + 1) is Reason.EXPIRED


@VECTORS
def test_vector_decodes_to_documented_fields(sig):
    doc = decode(sig)
    assert (doc["TLS.sig"], doc["TLS.time"], doc["TLS.expire"]) == (EXPECTED_SIG, T0, EXPIRE)
    assert (doc["TLS.sdkappid"], doc["TLS.identifier"], doc["TLS.ver"]) == (APPID, ADMIN, "2.0")


def test_generate_reproduces_python_vector_byte_for_byte():
    assert generate(APPID, ADMIN, KEY, expire=EXPIRE, now=T0) == PY_VECTOR


def test_the_two_vectors_differ_so_strings_must_never_be_compared():
    assert PY_VECTOR != NODE_VECTOR and decode(PY_VECTOR) == decode(NODE_VECTOR)


# --- interop with the official PyPI generator ----------------------------------------------

@pytest.fixture
def official(monkeypatch):
    mod = pytest.importorskip("TLSSigAPIv2")
    monkeypatch.setattr(mod.time, "time", lambda: T0 + 0.75)  # the library truncates with int()
    return mod.TLSSigAPIv2(APPID, KEY)


def test_official_sig_verifies(official):
    doc = check(official.gen_sig(ADMIN, EXPIRE), now=T0 + 10)
    assert doc["TLS.time"] == T0


def test_ours_equals_official_for_same_time(official):
    theirs, ours = official.gen_sig(ADMIN, EXPIRE), generate(APPID, ADMIN, KEY, expire=EXPIRE, now=T0)
    assert decode(ours)["TLS.sig"] == decode(theirs)["TLS.sig"] == EXPECTED_SIG
    assert ours == theirs


def test_official_userbuf_sig_needs_matching_userbuf(official):
    sig = official.gen_sig_with_userbuf(ADMIN, EXPIRE, b"abc")
    assert check(sig, userbuf=b"abc")["TLS.userbuf"] == "YWJj"
    assert sig == generate(APPID, ADMIN, KEY, expire=EXPIRE, now=T0, userbuf=b"abc")
    # Go's VerifyUserSig (no userbuf) rejects a sig that carries one (api-facts §5.2).
    assert reason_of(sig) is Reason.USERBUF_MISMATCH
    assert reason_of(sig, userbuf=b"abd") is Reason.USERBUF_MISMATCH


# --- encodings other generators produce ----------------------------------------------------

def test_go_style_level0_compact_with_trailing_newline_verifies():
    # Go: struct order, compact json.Encoder output ending in "\n", zlib NoCompression.
    payload = (json.dumps(signed_doc(), separators=(",", ":")) + "\n").encode()
    sig = pack(payload, level=0)
    assert zlib.compress(payload, 0) != zlib.compress(payload)
    assert check(sig)["TLS.sig"] == EXPECTED_SIG


def test_padded_and_unpadded_forms_both_verify():
    padded = PY_VECTOR
    assert padded.endswith("__")
    assert check(padded.rstrip("_"))["TLS.time"] == T0
    assert check(padded[:-1])["TLS.time"] == T0


def test_key_order_and_whitespace_do_not_matter():
    order = ("TLS.sig", "TLS.time", "TLS.expire", "TLS.sdkappid", "TLS.identifier", "TLS.ver")
    sig = pack(json.dumps(signed_doc(order=order), indent=3).encode())
    assert check(sig)["TLS.sig"] == EXPECTED_SIG


# --- each failure reason ------------------------------------------------------------------

def _json_without(key: str) -> str:
    doc = signed_doc()
    del doc[key]
    return pack(json.dumps(doc).encode())


LEGACY_V1 = {"TLS.account_type": "0", "TLS.identifier": ADMIN, "TLS.appid_at_3rd": "0",
             "TLS.sdk_appid": str(APPID), "TLS.expire_after": "86400", "TLS.version": "201512300000",
             "TLS.time": str(T0), "TLS.sig": "MEUCIQD"}

MALFORMED = {
    "garbage": "not a usersig!",
    "truncated": PY_VECTOR[:100],
    "base64_of_non_zlib": base64.b64encode(b"hello world, not zlib").decode(),
    "zlib_of_non_json": pack(b"TLS.ver=2.0"),
    "json_array": pack(b"[1, 2]"),
    "missing_sig": _json_without("TLS.sig"),
    "missing_time": _json_without("TLS.time"),
    "time_as_string": pack(json.dumps({**signed_doc(), "TLS.time": str(T0)}).encode()),
    "sdkappid_as_bool": pack(json.dumps({**signed_doc(), "TLS.sdkappid": True}).encode()),
    "sig_not_base64": pack(json.dumps({**signed_doc(), "TLS.sig": "!!"}).encode()),
    "legacy_v1_ecdsa": pack(json.dumps(LEGACY_V1).encode()),
    "length_mod_4_is_1": PY_VECTOR.rstrip("_")[:-2],
    "over_padded": PY_VECTOR + "_",
    "padding_inside": PY_VECTOR[:40] + "_" + PY_VECTOR[41:],
    "too_long": "A" * (usersig.MAX_USERSIG_LEN + 4),
}


@pytest.mark.parametrize("sig", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed(sig):
    with pytest.raises(UserSigError) as info:
        decode(sig)
    assert info.value.reason is Reason.MALFORMED
    assert reason_of(sig) is Reason.MALFORMED


def test_legacy_v1_is_named_in_detail():
    with pytest.raises(UserSigError, match="legacy v1"):
        decode(MALFORMED["legacy_v1_ecdsa"])


def test_zlib_bomb_is_rejected_not_inflated():
    # Correctly signed, so only the inflate cap can reject it.
    bomb = pack(json.dumps({**signed_doc(), "pad": "2" * 5_000_000}).encode(), level=9)
    assert len(bomb) < usersig.MAX_USERSIG_LEN
    assert reason_of(bomb) is Reason.MALFORMED


@pytest.mark.parametrize("name", ["garbage", "base64_of_non_zlib", "zlib_of_non_json", "json_array"])
def test_decode_errors_do_not_chain_library_exceptions(name):
    with pytest.raises(UserSigError) as info:
        decode(MALFORMED[name])
    # A chained binascii/zlib/json error would print in tracebacks, and its repr could carry input.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_empty():
    assert reason_of("") is Reason.EMPTY


def test_wrong_sdkappid_and_identifier():
    assert reason_of(PY_VECTOR, sdkappid=APPID + 1) is Reason.SDKAPPID_MISMATCH
    assert reason_of(PY_VECTOR, identifier="Administrator") is Reason.IDENTIFIER_MISMATCH


def test_wrong_key():
    assert reason_of(PY_VECTOR, secret_key=KEY[:-1] + "f") is Reason.SIG_MISMATCH


def test_hex_decoded_key_is_not_the_key():
    assert reason_of(PY_VECTOR, secret_key=bytes.fromhex(KEY).decode("latin-1")) is Reason.SIG_MISMATCH


def test_tampered_time_breaks_signature():
    doc = {**decode(PY_VECTOR), "TLS.time": T0 + 3600}  # the sig still covers the old time
    assert reason_of(pack(json.dumps(doc).encode()), now=T0) is Reason.SIG_MISMATCH


def test_go_check_order():
    # api-facts §5.2: sdkappid before identifier before expiry before HMAC.
    assert reason_of(PY_VECTOR, sdkappid=1, identifier="x") is Reason.SDKAPPID_MISMATCH
    assert reason_of(PY_VECTOR, identifier="x", now=T0 * 2) is Reason.IDENTIFIER_MISMATCH
    assert reason_of(PY_VECTOR, secret_key="wrong", now=T0 * 2) is Reason.EXPIRED


@pytest.mark.parametrize("sig,kw", [
    ("", {}), (MALFORMED["truncated"], {}), (MALFORMED["garbage"], {}),
    (MALFORMED["base64_of_non_zlib"], {}), (MALFORMED["zlib_of_non_json"], {}), (PY_VECTOR, {"secret_key": KEY + "x"}),
    (PY_VECTOR, {"now": T0 * 2}), (PY_VECTOR, {"identifier": "x"}), (PY_VECTOR, {"sdkappid": 7}),
])
def test_error_text_contains_neither_usersig_nor_key(sig, kw):
    with pytest.raises(UserSigError) as info:
        check(sig, **kw)
    texts = (str(info.value), repr(info.value))
    assert all(KEY not in t and (not sig or sig[:16] not in t) for t in texts)
    assert info.value.reason.name in str(info.value)
    # No chained binascii/zlib/json exception either: their repr could carry input bytes.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_every_reason_has_a_description():
    assert all(r.description and r.description != r.name for r in Reason)


@pytest.mark.parametrize("kw", [
    {"expire": -1}, {"sdkappid": "1400000000"}, {"sdkappid": True}, {"sdkappid": 0},
    {"identifier": ""}, {"secret_key": ""}, {"now": 1.5}, {"userbuf": "abc"}, {"identifier": "\ud800"},
])
def test_generate_rejects_bad_arguments_with_name(kw):
    args = {"sdkappid": APPID, "identifier": ADMIN, "secret_key": KEY, **kw}
    with pytest.raises(ValueError, match=next(iter(kw)) + "="):
        generate(args.pop("sdkappid"), args.pop("identifier"), args.pop("secret_key"), **args)


@pytest.mark.parametrize("kw", [{"now": float("nan")}, {"now": True}, {"userbuf": 5}, {"secret_key": None}])
def test_verify_rejects_bad_arguments_with_name(kw):
    with pytest.raises(ValueError, match=next(iter(kw)) + "="):
        check(PY_VECTOR, **kw)


def test_generate_default_clock_is_now(monkeypatch):
    monkeypatch.setattr(usersig.time, "time", lambda: T0 + 0.9)
    assert decode(generate(APPID, ADMIN, KEY))["TLS.time"] == T0


# --- Verifier: injectable clock and cache --------------------------------------------------

class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_verifier_cached_sig_still_expires():
    clock = Clock(T0)
    v = Verifier({APPID: KEY}, clock)
    assert v.verify(NODE_VECTOR, APPID, ADMIN)["TLS.time"] == T0
    clock.now = T0 + EXPIRE
    assert v.verify(NODE_VECTOR, APPID, ADMIN)["TLS.time"] == T0
    assert v.cache_info().hits == 1
    clock.now = T0 + EXPIRE + 1
    with pytest.raises(UserSigError) as info:
        v.verify(NODE_VECTOR, APPID, ADMIN)
    assert info.value.reason is Reason.EXPIRED and v.cache_info().hits == 2


def test_verifier_cached_negative_keeps_reason_and_order():
    v = Verifier(lambda appid: KEY if appid == APPID else None, Clock(T0 * 2))
    for _ in range(2):  # second call is served from the cache
        with pytest.raises(UserSigError) as info:
            v.verify(PY_VECTOR, APPID, "someone")
        assert info.value.reason is Reason.IDENTIFIER_MISMATCH
    assert v.cache_info().hits == 1


def test_verifier_key_change_is_not_served_from_cache():
    keys = {APPID: KEY}
    v = Verifier(keys, Clock(T0))
    v.verify(PY_VECTOR, APPID, ADMIN)
    keys[APPID] = "rotated"
    with pytest.raises(UserSigError) as info:
        v.verify(PY_VECTOR, APPID, ADMIN)
    assert info.value.reason is Reason.SIG_MISMATCH


def test_verifier_returned_doc_cannot_poison_cache():
    v = Verifier({APPID: KEY}, Clock(T0))
    v.verify(PY_VECTOR, APPID, ADMIN)["TLS.time"] = 0
    assert v.verify(PY_VECTOR, APPID, ADMIN)["TLS.time"] == T0


def test_verifier_unknown_sdkappid_and_empty():
    v = Verifier({APPID: KEY}, Clock(T0))
    with pytest.raises(UserSigError) as info:
        v.verify(PY_VECTOR, APPID + 1, ADMIN)
    assert info.value.reason is Reason.UNKNOWN_SDKAPPID
    with pytest.raises(UserSigError) as info:
        v.verify("", APPID, ADMIN)
    assert info.value.reason is Reason.EMPTY


def test_verifier_keeps_oversized_input_out_of_cache():
    v = Verifier({APPID: KEY}, Clock(T0))
    with pytest.raises(UserSigError) as info:
        v.verify(PY_VECTOR * 100, APPID, ADMIN)
    assert info.value.reason is Reason.MALFORMED and v.cache_info().currsize == 0


def test_verifier_cache_is_bounded():
    v = Verifier({APPID: KEY}, Clock(T0), cache_size=8)
    for i in range(20):
        v.verify(generate(APPID, ADMIN, KEY, now=T0 - i), APPID, ADMIN)
    assert v.cache_info().currsize == 8


# --- property ------------------------------------------------------------------------------

keys = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=64)


@settings(max_examples=200, deadline=None)
@given(
    identifier=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=32),
    sdkappid=st.integers(1, 2**32 - 1),
    expire=st.integers(1, 10 * 366 * 86400),
    now=st.integers(0, 2**33),
    key=keys,
    other_key=keys,
)
def test_roundtrip_and_other_key_fails(identifier, sdkappid, expire, now, key, other_key):
    assume(key != other_key)
    sig = generate(sdkappid, identifier, key, expire=expire, now=now)
    args = {"sdkappid": sdkappid, "identifier": identifier}
    doc = verify(sig, secret_key=key, now=now + expire, **args)
    assert (doc["TLS.identifier"], doc["TLS.sdkappid"], doc["TLS.expire"], doc["TLS.time"]) == (
        identifier, sdkappid, expire, now)
    with pytest.raises(UserSigError) as info:
        verify(sig, secret_key=other_key, now=now, **args)
    assert info.value.reason is Reason.SIG_MISMATCH
