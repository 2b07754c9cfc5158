"""Webhook signature schemes against the published Standard Webhooks vector and tampering."""

from __future__ import annotations

import base64
import json

import pytest
from multidict import CIMultiDict

from ledger.webhooks.signatures import (
    SignatureError,
    parse_whsec,
    sign_hex,
    sign_standard,
    verify_body_timestamp,
    verify_hex,
    verify_standard,
)

# The vector published by standard-webhooks (and svix) in their libraries' tests and docs.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER = "whsec_" + base64.b64encode(bytes(range(32))).decode()
HEX_KEY = b"hex-scheme-secret"


def headers(msg_id=MSG_ID, timestamp=TIMESTAMP, signature=SIGNATURE) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def check_of(call, *args, **kwargs) -> str:
    with pytest.raises(SignatureError) as caught:
        call(*args, **kwargs)
    return caught.value.check


def test_signing_the_published_vector_gives_the_published_signature():
    assert sign_standard(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_the_published_vector_verifies_with_an_injected_clock_and_returns_the_id():
    assert verify_standard(headers(), BODY, [SECRET], now=TIMESTAMP) == MSG_ID
    cased = CIMultiDict({"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TIMESTAMP),
                         "Webhook-Signature": SIGNATURE})  # fmt: skip
    assert verify_standard(cased, BODY, [SECRET], now=TIMESTAMP + 300) == MSG_ID


@pytest.mark.parametrize(
    ("hdrs", "body"),
    [
        (headers(), b'{"test": 2432232315}'),
        (headers(), BODY + b" "),
        (headers(msg_id="msg_p5jXN8AQM9LWM0D4loKWxJeK"), BODY),
        (headers(timestamp=TIMESTAMP + 1), BODY),
        (headers(signature="v1,g0hM8SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), BODY),
    ],
    ids=["body-digit", "body-extra-byte", "id-case", "timestamp", "signature"],
)
def test_changing_one_character_anywhere_is_a_signature_mismatch(hdrs, body):
    assert check_of(verify_standard, hdrs, body, [SECRET], now=TIMESTAMP) == "signature_mismatch"


def test_the_same_json_re_serialised_with_other_spacing_no_longer_verifies():
    compact = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert json.loads(compact) == json.loads(BODY)
    assert (
        check_of(verify_standard, headers(), compact, [SECRET], TIMESTAMP) == "signature_mismatch"
    )


@pytest.mark.parametrize("skew", [301, -301, 86_400, -86_400])
def test_a_genuine_delivery_outside_the_tolerance_either_way_is_stale(skew):
    now = TIMESTAMP + skew
    assert check_of(verify_standard, headers(), BODY, [SECRET], now) == "stale_timestamp"
    assert verify_standard(headers(), BODY, [SECRET], now, tolerance_s=abs(skew)) == MSG_ID


def test_a_stale_forgery_reports_the_mismatch_not_the_age():
    hdrs = headers(signature="v1," + base64.b64encode(bytes(32)).decode())
    assert check_of(verify_standard, hdrs, BODY, [SECRET], TIMESTAMP + 9999) == "signature_mismatch"


def test_during_rotation_both_the_old_and_the_new_secret_are_accepted():
    new_sig = sign_standard(OTHER, MSG_ID, TIMESTAMP, BODY)
    for signature in (SIGNATURE, new_sig):
        hdrs = headers(signature=signature)
        assert verify_standard(hdrs, BODY, [OTHER, SECRET], now=TIMESTAMP) == MSG_ID
        assert verify_standard(hdrs, BODY, [SECRET, OTHER], now=TIMESTAMP) == MSG_ID
    assert check_of(verify_standard, headers(), BODY, [OTHER], TIMESTAMP) == "signature_mismatch"


def test_a_header_with_several_signatures_verifies_when_any_one_matches():
    wrong = "v1," + base64.b64encode(bytes(32)).decode()
    future = "v1a,c29tZSBhc3ltbWV0cmljIHNpZ25hdHVyZQ=="
    hdrs = headers(signature=f"{wrong} {future} {SIGNATURE}")
    assert verify_standard(hdrs, BODY, [SECRET], now=TIMESTAMP) == MSG_ID


@pytest.mark.parametrize(
    ("hdrs", "check"),
    [
        ({"webhook-timestamp": "1", "webhook-signature": SIGNATURE}, "missing_header"),
        ({"webhook-id": MSG_ID, "webhook-signature": SIGNATURE}, "missing_header"),
        ({"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}, "missing_header"),
        (headers(signature="g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "malformed_header"),
        (headers(signature="v1,not*base64"), "malformed_header"),
        (headers(signature="v1," + base64.b64encode(b"short").decode()), "malformed_header"),
        (headers(signature="v1a,c2lnbmF0dXJl"), "malformed_header"),
        (headers(signature=""), "malformed_header"),
        (headers(timestamp="2021-02-26T00:00:00Z"), "malformed_header"),
        (headers(timestamp="-1614265330"), "malformed_header"),
        (headers(timestamp="1" * 40), "malformed_header"),
        (headers(msg_id=""), "malformed_header"),
        (headers(msg_id="msg with space"), "malformed_header"),
    ],
)
def test_missing_and_malformed_headers_are_refused_by_name(hdrs, check):
    assert check_of(verify_standard, hdrs, BODY, [SECRET], TIMESTAMP) == check


def test_a_header_sent_twice_is_malformed_rather_than_guessed():
    hdrs = CIMultiDict(headers())
    hdrs.add("Webhook-Id", "msg_other")
    assert check_of(verify_standard, hdrs, BODY, [SECRET], TIMESTAMP) == "malformed_header"


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  # not base64
        "whsec_" + base64.b64encode(bytes(23)).decode(),  # key one byte too short
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # key one byte too long
        "whsec_",
    ],
)
def test_a_bad_whsec_secret_is_refused_for_signing_and_verifying(secret):
    assert check_of(parse_whsec, secret) == "bad_secret"
    assert check_of(sign_standard, secret, MSG_ID, TIMESTAMP, BODY) == "bad_secret"
    assert check_of(verify_standard, headers(), BODY, [SECRET, secret], TIMESTAMP) == "bad_secret"


def test_the_key_length_bounds_are_inclusive_and_no_secret_at_all_is_refused():
    assert len(parse_whsec("whsec_" + base64.b64encode(bytes(64)).decode())) == 64
    assert len(parse_whsec(SECRET)) == 24
    assert check_of(verify_standard, headers(), BODY, [], TIMESTAMP) == "bad_secret"


def test_error_messages_never_reveal_the_expected_signature():
    forged = headers(signature="v1," + base64.b64encode(bytes(32)).decode())
    with pytest.raises(SignatureError) as caught:
        verify_standard(forged, BODY, [SECRET], now=TIMESTAMP)
    expected = SIGNATURE.removeprefix("v1,")
    assert expected not in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(SignatureError) as caught:
        verify_hex({"x-signature-256": "00" * 32}, BODY, [HEX_KEY])
    assert sign_hex(HEX_KEY, BODY) not in str(caught.value)


@pytest.mark.parametrize("prefix", ["", "sha256="])
def test_the_hex_scheme_verifies_with_or_without_the_sha256_prefix(prefix):
    value = prefix + sign_hex(HEX_KEY, BODY)
    verify_hex({"x-signature-256": value}, BODY, [HEX_KEY])
    verify_hex(
        CIMultiDict({"X-Signature-256": prefix + sign_hex(HEX_KEY, BODY).upper()}),
        BODY,
        ["hex-scheme-secret"],
    )
    verify_hex({"x-hub-signature-256": value}, BODY, [b"old", HEX_KEY], "X-Hub-Signature-256")
    assert check_of(verify_hex, {"x-signature-256": value}, BODY + b"\n", [HEX_KEY]) == (
        "signature_mismatch"
    )


@pytest.mark.parametrize(
    ("hdrs", "secrets", "check"),
    [
        ({"x-signature-256": sign_hex(b"another-key", BODY)}, [HEX_KEY], "signature_mismatch"),
        ({"x-signature-256": "sha256=" + "zz" * 32}, [HEX_KEY], "malformed_header"),
        ({"x-signature-256": "ab" * 31}, [HEX_KEY], "malformed_header"),
        ({"x-signature-256": "ab " * 32}, [HEX_KEY], "malformed_header"),
        ({"x-other": sign_hex(HEX_KEY, BODY)}, [HEX_KEY], "missing_header"),
        ({"x-signature-256": sign_hex(HEX_KEY, BODY)}, [b""], "bad_secret"),
        ({"x-signature-256": sign_hex(HEX_KEY, BODY)}, [], "bad_secret"),
    ],
    ids=["wrong-hex", "not-hex", "short", "spaced", "missing", "empty-secret", "no-secret"],
)
def test_the_hex_scheme_refuses_wrong_malformed_and_missing_signatures(hdrs, secrets, check):
    assert check_of(verify_hex, hdrs, BODY, secrets) == check


def _svix(hdrs: dict[str, str]) -> dict[str, str]:
    return {name.replace("webhook-", "svix-"): value for name, value in hdrs.items()}


def test_svix_header_names_verify_as_the_official_libraries_accept_them():
    assert verify_standard(_svix(headers()), BODY, [SECRET], now=TIMESTAMP) == MSG_ID
    cased = CIMultiDict({"Svix-Id": MSG_ID, "Svix-Timestamp": str(TIMESTAMP),
                         "Svix-Signature": SIGNATURE})  # fmt: skip
    assert verify_standard(cased, BODY, [SECRET], now=TIMESTAMP) == MSG_ID


def test_svix_headers_are_checked_as_strictly_as_the_standard_ones():
    forged = _svix(headers(signature="v1,g0hM8SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="))
    assert check_of(verify_standard, forged, BODY, [SECRET], now=TIMESTAMP) == "signature_mismatch"
    stale = _svix(headers())
    assert (
        check_of(verify_standard, stale, BODY, [SECRET], now=TIMESTAMP + 301) == "stale_timestamp"
    )


def test_the_two_families_are_never_mixed_into_one_signature():
    """A webhook-id with svix timestamp and signature is not a delivery of either scheme."""
    mixed = {"webhook-id": MSG_ID} | {k: v for k, v in _svix(headers()).items() if k != "svix-id"}
    assert check_of(verify_standard, mixed, BODY, [SECRET], now=TIMESTAMP) == "missing_header"


def _reloadly(body: bytes, timestamp: str, key: bytes = HEX_KEY) -> dict[str, str]:
    signature = sign_hex(key, body + b":" + timestamp.encode())
    return {"X-Reloadly-Signature": signature, "X-Reloadly-Request-Timestamp": timestamp}


def _verify_reloadly(hdrs: dict[str, str], body: bytes, now: int) -> None:
    verify_body_timestamp(
        hdrs, body, [HEX_KEY], now, 300, "X-Reloadly-Signature", "X-Reloadly-Request-Timestamp"
    )


@pytest.mark.parametrize("timestamp", [str(TIMESTAMP), str(TIMESTAMP * 1000)], ids=["s", "ms"])
def test_body_and_timestamp_signatures_verify_in_seconds_or_milliseconds(timestamp):
    _verify_reloadly(_reloadly(BODY, timestamp), BODY, now=TIMESTAMP + 10)


def test_body_and_timestamp_signatures_refuse_tampering_replays_and_bad_headers():
    genuine = _reloadly(BODY, str(TIMESTAMP))
    moved = genuine | {"X-Reloadly-Request-Timestamp": str(TIMESTAMP + 1)}
    assert check_of(_verify_reloadly, moved, BODY, TIMESTAMP) == "signature_mismatch"
    assert check_of(_verify_reloadly, genuine, BODY + b" ", TIMESTAMP) == "signature_mismatch"
    assert check_of(_verify_reloadly, genuine, BODY, TIMESTAMP + 301) == "stale_timestamp"
    bad = genuine | {"X-Reloadly-Request-Timestamp": "12e9"}
    assert check_of(_verify_reloadly, bad, BODY, TIMESTAMP) == "malformed_header"
    unsigned = {"X-Reloadly-Request-Timestamp": str(TIMESTAMP)}
    assert check_of(_verify_reloadly, unsigned, BODY, TIMESTAMP) == "missing_header"


def test_a_base64_hmac_of_the_body_verifies_and_a_tampered_body_does_not():
    mac = base64.b64encode(bytes.fromhex(sign_hex(HEX_KEY, BODY))).decode()
    verify_hex({"X-Signed-Payload": mac}, BODY, [HEX_KEY], "X-Signed-Payload", "base64")
    hdrs = {"X-Signed-Payload": mac}
    tampered = check_of(verify_hex, hdrs, BODY + b" ", [HEX_KEY], "X-Signed-Payload", "base64")
    assert tampered == "signature_mismatch"
    not_base64 = {"X-Signed-Payload": "not base64!"}
    refused = check_of(verify_hex, not_base64, BODY, [HEX_KEY], "X-Signed-Payload", "base64")
    assert refused == "malformed_header"
