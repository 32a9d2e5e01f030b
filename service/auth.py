"""Bearer-token authentication and per-token rate limits, checked by the interceptor.

Callers send ``authorization: Bearer <token>`` metadata. The server never stores tokens, only
their SHA-256 hashes, one per line of the tokens file (``--auth-tokens-file``)::

    # name      sha256 of the token (hex)                                         options
    billing     3f0a...64 hex digits...                                           rate=20
    dashboards  sha256:9c1e...                                                    methods=ListModels

``rate=N`` allows N requests per second on average (bursts up to N); ``methods=A,B`` limits the
token to those RPCs (PERMISSION_DENIED for others). ``s2s token NAME`` makes a token and its
line. The presented token is hashed and compared with every stored hash in constant time, so
neither a match's position nor a near-miss shows in the timing. Failures say only what the caller
must fix (send a token / the token is not valid / not allowed here), never which tokens exist.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from service import metrics
from service.errors import PermissionDenied, RateLimited, Unauthenticated
from service.files import stamp

log = structlog.get_logger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_HEX = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


class TokenFileError(ValueError):
    """The tokens file cannot be used (message names the line)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenBucket:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may go now, else the seconds until one may."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


@dataclass(frozen=True)
class TokenEntry:
    name: str
    digest: bytes
    rate: float | None = None
    methods: frozenset[str] = field(default_factory=frozenset)


def parse_tokens(text: str, source: str = "tokens file") -> list[TokenEntry]:
    entries: list[TokenEntry] = []
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{source} line {number}"
        if len(words) < 2 or not _NAME.fullmatch(words[0]):
            raise TokenFileError(
                f"{where}: expected 'name sha256-hex [rate=N] [methods=A,B]' "
                "(name: letters, digits, '._@-', up to 64)"
            )
        digest = _HEX.fullmatch(words[1])
        if digest is None:
            raise TokenFileError(f"{where}: the second word must be 64 hex digits (a SHA-256)")
        if words[0] in names:
            raise TokenFileError(f"{where}: name {words[0]!r} is used twice")
        names.add(words[0])
        rate: float | None = None
        methods: frozenset[str] = frozenset()
        for option in words[2:]:
            key, _, value = option.partition("=")
            if key == "rate":
                try:
                    rate = float(value)
                except ValueError:
                    rate = math.nan
                if not (math.isfinite(rate) and rate > 0):
                    raise TokenFileError(f"{where}: rate must be a number above 0, got {value!r}")
            elif key == "methods" and value:
                methods = frozenset(value.split(","))
            else:
                raise TokenFileError(f"{where}: unknown option {option!r} (rate=N, methods=A,B)")
        entries.append(TokenEntry(words[0], bytes.fromhex(digest.group(1)), rate, methods))
    if not entries:
        raise TokenFileError(f"{source} holds no token: every caller would be refused")
    return entries


class Authenticator:
    """Checks a call's bearer token; thread-safe to reload while calls are checked."""

    def __init__(
        self, entries: Sequence[TokenEntry], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._entries: tuple[TokenEntry, ...] = ()
        self._buckets: dict[str, TokenBucket] = {}
        self.replace(entries)

    @classmethod
    def from_file(cls, path: Path) -> Authenticator:
        return cls(load_tokens(path))

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def replace(self, entries: Sequence[TokenEntry]) -> None:
        """Use these tokens from now on; a token keeping its name and rate keeps its bucket."""
        buckets = {}
        for e in entries:
            old = self._buckets.get(e.name)
            if e.rate is not None:
                keep = old is not None and old.rate == e.rate
                bucket = old if keep and old else TokenBucket(e.rate, max(1.0, e.rate), self._clock)
                buckets[e.name] = bucket
        self._entries, self._buckets = tuple(entries), buckets

    def authorize(self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
        """The token's name, or `Unauthenticated` / `PermissionDenied` / `RateLimited`."""
        header = next((v for k, v in metadata or () if k == "authorization"), None)
        if header is None:
            metrics.AUTH_FAILURES.labels("missing").inc()
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <token>'")
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        scheme, _, token = header.strip().partition(" ")
        digest = hashlib.sha256(token.strip().encode("utf-8")).digest()
        match: TokenEntry | None = None
        for entry in self._entries:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(entry.digest, digest):
                match = entry
        if match is None or scheme.lower() != "bearer":
            metrics.AUTH_FAILURES.labels("invalid").inc()
            raise Unauthenticated("invalid credentials: the bearer token is not accepted")
        if match.methods and method not in match.methods:
            metrics.AUTH_FAILURES.labels("denied").inc()
            raise PermissionDenied(f"this token may not call {method}")
        bucket = self._buckets.get(match.name)
        if bucket is not None:
            wait = bucket.take()
            if wait > 0:
                metrics.RATE_LIMITED.inc()
                raise RateLimited(
                    f"rate limit of {bucket.rate:g} requests/s for this token exceeded; "
                    "retry after the hinted delay",
                    retry_after_ms=max(1, math.ceil(wait * 1000)),
                )
        return match.name


def load_tokens(path: Path) -> list[TokenEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read {path}: {exc}") from exc
    return parse_tokens(text, str(path))


class TokenFile:
    """The tokens file behind an `Authenticator`, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = stamp(path)
        self.authenticator = Authenticator(load_tokens(path))

    def check(self, force: bool = False) -> bool:
        """Reload if the file changed (or ``force``); a broken file keeps the old tokens."""
        current = stamp(self.path)
        if current == self._stamp and not force:
            return False
        self._stamp = current
        try:
            entries = load_tokens(self.path)
        except TokenFileError as exc:
            log.error("auth_tokens_reload_failed", error=str(exc), keeping="the previous tokens")
            return False
        self.authenticator.replace(entries)
        log.info("auth_tokens_reloaded", tokens=len(entries))
        return True
