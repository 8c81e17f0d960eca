"""Logging in, renewing, `auth/me`, and turning a bearer token into the `Caller` of a request.

Tokens and sessions live in real time: expiry, `expirationTime` and the `userSession` start and end times are read
from the wall clock passed in, never from the simulated clock that `/sim/clock` moves."""

import asyncio
import secrets
from collections.abc import Callable
from datetime import datetime

import msgspec

from tradovate_sim.core.decision import created, updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Credential, Organization, User, UserSession
from tradovate_sim.model.enums import UserStatus
from tradovate_sim.model.ids import OrganizationId, SessionId, UserId
from tradovate_sim.model.requests import AccessTokenRequest
from tradovate_sim.model.results import AccessTokenResponse, OAuthMeResponse
from tradovate_sim.service.auth import (
    ACCESS_TOKEN_LIFETIME,
    PasswordHashing,
    SessionBook,
    TokenClaims,
    TokenSigner,
)
from tradovate_sim.service.errors import denied
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.ports import TimeSource

VERIFIED_CACHE = 100_000
BAD_CREDENTIALS = "Incorrect username or password. Please try again."


class Identity:
    """Passwords, tokens and live sessions of one server."""

    def __init__(self, platform: Platform, secret: bytes, hashing: PasswordHashing, wall: TimeSource) -> None:
        self.platform = platform
        self.wall = wall
        self.signer = TokenSigner(secret)
        self.hashing = hashing
        self.sessions = SessionBook()
        self.verified: dict[str, TokenClaims] = {}  # tokens whose signature was checked; expiry is checked each time
        self.dummy_hash = hashing.hash(secrets.token_hex(16))  # equal work for unknown users
        self.session_listeners: list[Callable[[], None]] = []  # told at once when sessions end (the WebSocket hub)
        # sessions this process opened whose commit has not landed: not in memory yet, so a rebuild of the book
        # (another process's session rows followed meanwhile) keeps them, and the sessions they end stay ended
        self.opening: dict[SessionId, UserId] = {}
        self.restore()

    def restore(self) -> None:
        live = {s.id: s.user_id for s in self.platform.entities(UserSession) if s.end_time is None}
        live.update(self.opening)
        self.sessions = SessionBook.restore((live[i], i) for i in sorted(live))
        self.sessions_ended()

    def sessions_ended(self) -> None:
        for listener in self.session_listeners:
            listener()

    def caller(self, token: str | None) -> Caller:
        """The caller a bearer token stands for; raises a 401 ApiError when it is missing, bad or expired."""
        if not token:
            raise denied("Authorization: Bearer <accessToken> is required")
        now = self.wall.now()
        claims = self.verified.get(token)
        if claims is None:
            claims = self.signer.verify(token, now)
            if claims is not None:
                if len(self.verified) >= VERIFIED_CACHE:
                    self.verified.clear()
                self.verified[token] = claims
        if claims is None or claims.expires <= now or not self.sessions.is_live(claims.session_id):
            raise denied("Invalid or expired access token")
        user = self.platform.state.get(User, claims.user_id)
        credential = self.platform.state.get(Credential, claims.user_id)
        if user is None or credential is None or user.status is not UserStatus.Active:
            raise denied("Invalid or expired access token")
        return Caller(user_id=user.id, organization_id=user.organization_id or OrganizationId(0),
                      organization_admin=credential.organization_admin, session_id=claims.session_id)

    def caller_of_session(self, caller: Caller) -> Caller:
        """Re-check a socket's caller on each request: its session may have ended since it authorized."""
        if caller.session_id is None or not self.sessions.is_live(caller.session_id):
            raise denied("Session ended: authorize again")
        return caller

    def _tokens(self, user: User, session_id: SessionId, now: datetime) -> AccessTokenResponse:
        expires = now + ACCESS_TOKEN_LIFETIME
        issue = self.signer.issue
        return AccessTokenResponse(
            access_token=issue(session_id=session_id, user_id=user.id, kind="access", expires=expires,
                               nonce=secrets.token_bytes(12)),
            md_access_token=issue(session_id=session_id, user_id=user.id, kind="md", expires=expires,
                                  nonce=secrets.token_bytes(12)),
            expiration_time=expires, user_status=user.status, user_id=user.id, name=user.name, has_live=False,
        )

    async def login(self, req: AccessTokenRequest) -> AccessTokenResponse:
        """Open a session (ending the oldest beyond two) or answer HTTP 200 with `errorText`."""
        platform = self.platform
        user_id = platform.state.find(User, req.name)
        user = platform.state.get(User, user_id or 0)
        credential = platform.state.get(Credential, user_id or 0)
        if user is None or credential is None:
            await asyncio.to_thread(self.hashing.verify, self.dummy_hash, req.password)
            return AccessTokenResponse(error_text=BAD_CREDENTIALS)
        if not await asyncio.to_thread(self.hashing.verify, credential.password_hash, req.password):
            return AccessTokenResponse(error_text=BAD_CREDENTIALS)
        if user.status is not UserStatus.Active:
            return AccessTokenResponse(error_text=f"User status is {user.status}")
        now = self.wall.now()
        # the book orders a user's sessions by id: a session opened after another was acknowledged (on any
        # process) must get a larger id, or a third login ends the wrong one
        session = UserSession(id=SessionId(await platform.later_id("userSession")), user_id=user.id, start_time=now,
                              app_id=req.app_id, app_version=req.app_version)
        ended = self.sessions.open(user.id, session.id)
        if ended:
            self.sessions_ended()
        changes = [created(session)]
        for old in ended:
            previous = platform.state.get(UserSession, old)
            if previous is not None:
                changes.append(updated(msgspec.structs.replace(previous, end_time=now)))
        self.opening[session.id] = user.id
        try:
            await platform.commit(changes)
        finally:
            del self.opening[session.id]
        return self._tokens(user, session.id, now)

    async def renew(self, caller: Caller) -> AccessTokenResponse:
        user = self.platform.state.table(User)[caller.user_id]
        assert caller.session_id is not None
        return self._tokens(user, caller.session_id, self.wall.now())

    def me(self, caller: Caller) -> OAuthMeResponse:
        user = self.platform.state.table(User)[caller.user_id]
        organization = self.platform.state.get(Organization, user.organization_id or 0)
        return OAuthMeResponse(
            user_id=user.id, name=user.name, full_name=user.name, email=user.email, email_verified=True,
            is_trial=False, organization_name=organization.name if organization is not None else None,
        )
