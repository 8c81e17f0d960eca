"""Auth mechanics: password hashing, signed session tokens and the per-user session cap.

Tradovate semantics: `auth/accesstokenrequest` opens a new session and returns an access token that lives
`ACCESS_TOKEN_LIFETIME`; `auth/renewaccesstoken` issues a new token string for the same session; a user
holds at most `SessionBook.MAX_SESSIONS_PER_USER` live sessions and opening one more ends the oldest. The
market-data token (`mdAccessToken`) is a token of kind "md" on the same session. No I/O, no clock reads.
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tradovate_sim.model.ids import SessionId, UserId

__all__ = [
    "ACCESS_TOKEN_LIFETIME",
    "PasswordHashing",
    "SessionBook",
    "SessionId",
    "TokenClaims",
    "TokenKind",
    "TokenSigner",
]

TokenKind = Literal["access", "md"]

ACCESS_TOKEN_LIFETIME = timedelta(minutes=90)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MIN_SECRET_BYTES = 32
_NONCE_BYTES = range(8, 33)
_MAX_TOKEN_CHARS = 256  # a real token is ~130 chars; anything longer is rejected before decoding
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class PasswordHashing:
    """argon2id password hashes via argon2-cffi's `PasswordHasher`.

    Defaults are OWASP's argon2id minimum: time_cost=2, memory_cost=19456 KiB (19 MiB), parallelism=1.
    Measured on this 2-core machine: verify median ~30 ms, max ~44 ms over 15 runs (RFC 9106's
    low-memory profile, 3 x 64 MiB x 4 lanes, took ~176 ms). `verify` reads the parameters from the
    hash itself, so tests may pass cheaper ones (e.g. time_cost=1, memory_cost=8, parallelism=1).
    """

    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches; False on a mismatch or a malformed hash."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class TokenClaims(msgspec.Struct, frozen=True):
    session_id: SessionId
    user_id: UserId
    expires: datetime  # UTC aware, whole milliseconds
    kind: TokenKind


class _Payload(msgspec.Struct, frozen=True, array_like=True):
    session_id: SessionId
    user_id: UserId
    kind: TokenKind
    expires_ms: int
    nonce: bytes


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict base64url without padding: only the canonical encoding of some bytes is accepted."""
    if not _B64URL.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if _b64encode(raw) == text else None


def _require_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


class TokenSigner:
    """Stateless signed tokens: base64url(payload) + "." + base64url(HMAC-SHA256(secret, payload)).

    The payload (msgpack) holds session id, user id, kind, expiry (epoch ms) and a caller-supplied random
    nonce, so two tokens for one session never collide. A valid signature says nothing about whether the
    session is still live: callers also ask `SessionBook.is_live`.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {_MIN_SECRET_BYTES} bytes")
        self._secret = bytes(secret)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(_Payload)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, *, session_id: SessionId, user_id: UserId, kind: TokenKind, expires: datetime,
              nonce: bytes) -> str:
        """Sign a token; `nonce` is 8-32 random bytes (callers use `secrets.token_bytes(12)`)."""
        _require_aware(expires, "expires")
        if kind not in ("access", "md"):
            raise ValueError(f"unknown token kind {kind!r}")
        if len(nonce) not in _NONCE_BYTES:
            raise ValueError("nonce must be 8 to 32 bytes")
        payload = self._encoder.encode(
            _Payload(
                session_id=session_id,
                user_id=user_id,
                kind=kind,
                expires_ms=(expires - _EPOCH) // _ONE_MS,
                nonce=bytes(nonce),
            )
        )
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def verify(self, token: str, now: datetime) -> TokenClaims | None:
        """Claims of a well-formed, correctly signed token that has not expired at `now`, else None.

        A token is expired from its expiry instant on (`now >= expires`).
        """
        _require_aware(now, "now")
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        payload_part, signature_part = token.split(".")
        payload = _b64decode(payload_part)
        signature = _b64decode(signature_part)
        if payload is None or signature is None:
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            decoded = self._decoder.decode(payload)
            expires = _EPOCH + decoded.expires_ms * _ONE_MS
        except (msgspec.DecodeError, OverflowError):
            return None
        if now >= expires:
            return None
        return TokenClaims(session_id=decoded.session_id, user_id=decoded.user_id, expires=expires, kind=decoded.kind)


class SessionBook:
    """Live sessions per user, oldest first; pure bookkeeping over ids (no clock reads)."""

    MAX_SESSIONS_PER_USER = 2

    def __init__(self) -> None:
        self._by_user: dict[UserId, list[SessionId]] = {}
        self._owner: dict[SessionId, UserId] = {}

    def open(self, user_id: UserId, session_id: SessionId) -> list[SessionId]:
        """Open a session; returns the ids of the sessions it ended (oldest first) to stay within the cap."""
        if session_id in self._owner:
            raise ValueError(f"session {session_id} is already open")
        live = self._by_user.setdefault(user_id, [])
        live.append(session_id)
        self._owner[session_id] = user_id
        ended = live[: max(0, len(live) - self.MAX_SESSIONS_PER_USER)]
        for old in ended:
            self.end(old)
        return ended

    def end(self, session_id: SessionId) -> None:
        """End a session; ending an unknown or already ended session does nothing."""
        user = self._owner.pop(session_id, None)
        if user is None:
            return
        live = self._by_user[user]
        live.remove(session_id)
        if not live:
            del self._by_user[user]

    def is_live(self, session_id: SessionId) -> bool:
        return session_id in self._owner

    def live_sessions(self, user_id: UserId) -> list[SessionId]:
        return list(self._by_user.get(user_id, ()))

    @classmethod
    def restore(cls, sessions: Iterable[tuple[UserId, SessionId]]) -> "SessionBook":
        """Rebuild from the store's (user_id, session_id) pairs in opening order; `open`'s cap applies."""
        book = cls()
        for user_id, session_id in sessions:
            book.open(user_id, session_id)
        return book
