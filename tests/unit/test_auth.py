import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradovate_sim.model.ids import UserId
from tradovate_sim.service.auth import (
    ACCESS_TOKEN_LIFETIME,
    PasswordHashing,
    SessionBook,
    SessionId,
    TokenClaims,
    TokenKind,
    TokenSigner,
)

SECRET = b"s" * 32
NOW = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


def make_hashing() -> PasswordHashing:
    return PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)


def make_token(
    signer: TokenSigner | None = None,
    *,
    session_id: int = 7,
    user_id: int = 42,
    kind: TokenKind = "access",
    expires: datetime = NOW + ACCESS_TOKEN_LIFETIME,
    nonce: bytes = b"n" * 12,
) -> str:
    return (signer or TokenSigner(SECRET)).issue(
        session_id=session_id, user_id=user_id, kind=kind, expires=expires, nonce=nonce
    )


def flip_char(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


# --- PasswordHashing -------------------------------------------------------------------------------------


def test_verify_accepts_password_when_hashed_by_same_hashing() -> None:
    hashing = make_hashing()
    assert hashing.verify(hashing.hash("hunter2"), "hunter2")


def test_verify_rejects_password_when_it_differs() -> None:
    hashing = make_hashing()
    assert not hashing.verify(hashing.hash("hunter2"), "hunter3")


def test_hash_differs_when_same_password_hashed_twice() -> None:
    hashing = make_hashing()
    assert hashing.hash("hunter2") != hashing.hash("hunter2")


def test_hash_is_argon2id_without_password_when_hashed() -> None:
    password_hash = make_hashing().hash("hunter2-secret")
    assert password_hash.startswith("$argon2id$")
    assert "hunter2-secret" not in password_hash


def test_verify_accepts_hash_when_made_with_default_parameters() -> None:
    password_hash = PasswordHashing().hash("hunter2")
    assert "$m=19456,t=2,p=1$" in password_hash
    assert make_hashing().verify(password_hash, "hunter2")


@pytest.mark.parametrize("garbage", ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$zz$zz", "$2b$12$abc"])
def test_verify_is_false_when_hash_is_garbage(garbage: str) -> None:
    assert not make_hashing().verify(garbage, "hunter2")


# --- TokenSigner ----------------------------------------------------------------------------------------


def test_signer_refuses_secret_when_shorter_than_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"s" * 31)


def test_verify_returns_claims_when_token_round_trips() -> None:
    signer = TokenSigner(SECRET)
    token = make_token(signer, session_id=7, user_id=42, kind="md")

    claims = signer.verify(token, NOW)

    assert claims == TokenClaims(
        session_id=SessionId(7), user_id=UserId(42), expires=NOW + ACCESS_TOKEN_LIFETIME, kind="md"
    )
    assert claims.expires.tzinfo is not None


def test_verify_accepts_token_when_issued_by_another_signer_with_same_secret() -> None:
    assert TokenSigner(SECRET).verify(make_token(TokenSigner(SECRET)), NOW) is not None


def test_token_is_url_safe_when_issued() -> None:
    token = make_token(nonce=bytes(range(250, 256)) * 2)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_tokens_differ_when_renewed_for_same_session() -> None:
    signer = TokenSigner(SECRET)
    first = make_token(signer, nonce=b"a" * 12)
    renewed = make_token(signer, nonce=b"b" * 12, expires=NOW + timedelta(minutes=5) + ACCESS_TOKEN_LIFETIME)

    assert first != renewed
    first_claims, renewed_claims = signer.verify(first, NOW), signer.verify(renewed, NOW)
    assert first_claims is not None and renewed_claims is not None
    assert first_claims.session_id == renewed_claims.session_id
    assert renewed_claims.expires > first_claims.expires


def test_tokens_differ_when_only_nonce_differs() -> None:
    assert make_token(nonce=b"a" * 12) != make_token(nonce=b"b" * 12)


@pytest.mark.parametrize("index", [0, 5, -30, -1])
def test_verify_is_none_when_token_tampered(index: int) -> None:
    token = make_token()
    position = index % len(token)
    if token[position] == ".":
        position += 1
    assert TokenSigner(SECRET).verify(flip_char(token, position), NOW) is None


def test_verify_is_none_when_payload_swapped_under_old_signature() -> None:
    signer = TokenSigner(SECRET)
    mine = make_token(signer, user_id=42)
    theirs = make_token(signer, user_id=43)

    forged = theirs.split(".")[0] + "." + mine.split(".")[1]

    assert signer.verify(forged, NOW) is None


def test_verify_is_none_when_token_from_another_secret() -> None:
    token = make_token(TokenSigner(b"x" * 32))
    assert TokenSigner(SECRET).verify(token, NOW) is None


def test_verify_is_none_when_exactly_at_expiry() -> None:
    token = make_token(expires=NOW)
    assert TokenSigner(SECRET).verify(token, NOW) is None


def test_verify_is_none_when_past_expiry() -> None:
    token = make_token(expires=NOW + ACCESS_TOKEN_LIFETIME)
    assert TokenSigner(SECRET).verify(token, NOW + ACCESS_TOKEN_LIFETIME + timedelta(seconds=1)) is None


def test_verify_accepts_token_when_one_millisecond_before_expiry() -> None:
    token = make_token(expires=NOW)
    assert TokenSigner(SECRET).verify(token, NOW - timedelta(milliseconds=1)) is not None


def test_verify_honours_offset_when_expiry_in_other_timezone() -> None:
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    claims = TokenSigner(SECRET).verify(make_token(expires=eastern), NOW - timedelta(seconds=1))
    assert claims is not None
    assert claims.expires == NOW


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "nodot",
        "a.b.c",
        "!!!.???",
        "abc=.def=",
        "é.é",
        "a.",
        ".a",
        "A" * 100_000 + "." + "A" * 43,
        "\x00.\x00",
    ],
)
def test_verify_is_none_when_token_malformed(token: str) -> None:
    assert TokenSigner(SECRET).verify(token, NOW) is None


def test_verify_is_none_when_signed_payload_is_not_a_token() -> None:
    # Correctly signed, but the payload is not our msgpack shape.
    signer = TokenSigner(SECRET)
    payload = b"\x93\x01\x02\x03"
    token = base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + make_token().split(".")[1]
    assert signer.verify(token, NOW) is None


def test_verify_is_none_when_base64_is_not_canonical() -> None:
    token = make_token()
    payload_part, signature_part = token.split(".")
    # The last char of a 43-char signature carries 2 unused bits; setting them must not yield a 2nd token.
    last = signature_part[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    assert TokenSigner(SECRET).verify(f"{payload_part}.{signature_part[:-1]}{sibling}", NOW) is None


def test_issue_refuses_expiry_when_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_token(expires=datetime(2024, 3, 4, 16, 0))


def test_verify_refuses_now_when_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TokenSigner(SECRET).verify(make_token(), datetime(2024, 3, 4, 14, 30))


@pytest.mark.parametrize("nonce", [b"", b"n" * 7, b"n" * 33])
def test_issue_refuses_nonce_when_wrong_size(nonce: bytes) -> None:
    with pytest.raises(ValueError, match="nonce"):
        make_token(nonce=nonce)


@given(st.text(max_size=400))
def test_verify_never_raises_when_given_arbitrary_text(token: str) -> None:
    assert TokenSigner(SECRET).verify(token, NOW) is None


@given(st.from_regex(r"[A-Za-z0-9_-]{0,120}\.[A-Za-z0-9_-]{0,60}", fullmatch=True))
def test_verify_never_raises_when_given_token_shaped_text(token: str) -> None:
    assert TokenSigner(SECRET).verify(token, NOW) is None


# --- SessionBook ----------------------------------------------------------------------------------------


def test_open_ends_nothing_when_under_cap() -> None:
    book = SessionBook()
    assert book.open(42, 1) == []
    assert book.open(42, 2) == []
    assert book.live_sessions(42) == [1, 2]


def test_open_ends_oldest_when_third_session_opened() -> None:
    book = SessionBook()
    book.open(42, 1)
    book.open(42, 2)

    ended = book.open(42, 3)

    assert ended == [1]
    assert not book.is_live(1)
    assert book.live_sessions(42) == [2, 3]


def test_open_leaves_other_users_alone_when_cap_reached() -> None:
    book = SessionBook()
    book.open(42, 1)
    book.open(43, 2)
    book.open(42, 3)

    assert book.open(42, 4) == [1]
    assert book.live_sessions(43) == [2]


def test_session_not_live_when_ended() -> None:
    book = SessionBook()
    book.open(42, 1)

    book.end(1)

    assert not book.is_live(1)
    assert book.live_sessions(42) == []


def test_end_does_nothing_when_session_unknown() -> None:
    book = SessionBook()
    book.open(42, 1)
    book.end(99)
    book.end(99)
    assert book.live_sessions(42) == [1]


def test_open_refuses_session_when_already_open() -> None:
    book = SessionBook()
    book.open(42, 1)
    with pytest.raises(ValueError, match="already open"):
        book.open(43, 1)


def test_live_sessions_is_a_copy_when_mutated_by_caller() -> None:
    book = SessionBook()
    book.open(42, 1)
    book.live_sessions(42).append(SessionId(99))
    assert book.live_sessions(42) == [1]


def test_restore_preserves_order_when_rebuilt_from_store() -> None:
    book = SessionBook.restore([(42, 5), (43, 6), (42, 7)])

    assert book.live_sessions(42) == [5, 7]
    assert book.live_sessions(43) == [6]
    assert book.open(42, 8) == [5]


def test_restore_applies_cap_when_store_holds_too_many() -> None:
    book = SessionBook.restore([(42, 1), (42, 2), (42, 3)])
    assert book.live_sessions(42) == [2, 3]
    assert not book.is_live(1)
