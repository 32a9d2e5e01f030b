"""Bearer tokens: the tokens file, what each outcome raises, rate limits on an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.auth import Authenticator, TokenFile, TokenFileError, hash_token, parse_tokens
from service.errors import PermissionDenied, RateLimited, Unauthenticated

TOKEN = "secret-token-value"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> list[tuple[str, str]]:
    return [("user-agent", "test"), ("authorization", f"Bearer {token}")]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "holds no token"),
        ("# only a comment\n", "holds no token"),
        ("billing\n", "line 1: expected 'name sha256-hex"),
        ("bad/name " + "0" * 64, "line 1: expected"),
        ("billing abc\n", "line 1: the second word must be 64 hex digits"),
        (f"a {'0' * 64}\na {'1' * 64}\n", "line 2: name 'a' is used twice"),
        (f"a {'0' * 64} rate=0\n", "rate must be a number above 0"),
        (f"a {'0' * 64} rate=fast\n", "rate must be a number above 0"),
        (f"a {'0' * 64} color=red\n", "unknown option 'color=red'"),
    ],
)
def test_tokens_file_errors_name_the_line(text: str, phrase: str) -> None:
    with pytest.raises(TokenFileError, match=phrase):
        parse_tokens(text)


def test_outcomes() -> None:
    entries = parse_tokens(
        f"billing {hash_token(TOKEN)}  # comment\n"
        f"viewer sha256:{hash_token('viewer-token').upper()} methods=ListModels\n"
    )
    auth = Authenticator(entries)
    assert auth.authorize("Translate", bearer(TOKEN)) == "billing"
    assert auth.authorize("Translate", [("authorization", f"bearer   {TOKEN} ")]) == "billing"
    assert auth.authorize("ListModels", bearer("viewer-token")) == "viewer"
    with pytest.raises(PermissionDenied, match="may not call Translate"):
        auth.authorize("Translate", bearer("viewer-token"))
    with pytest.raises(Unauthenticated, match="missing credentials"):
        auth.authorize("Translate", [("user-agent", "x")])
    with pytest.raises(Unauthenticated, match="invalid credentials"):
        auth.authorize("Translate", bearer("guess"))
    with pytest.raises(Unauthenticated, match="invalid credentials"):
        auth.authorize("Translate", [("authorization", f"Basic {TOKEN}")])


def test_rate_limit_allows_bursts_then_hints_when_to_retry() -> None:
    clock = Clock()
    auth = Authenticator(parse_tokens(f"batch {hash_token(TOKEN)} rate=2\n"), clock=clock)
    assert auth.authorize("Translate", bearer(TOKEN)) == "batch"
    assert auth.authorize("Translate", bearer(TOKEN)) == "batch"  # burst of 2
    with pytest.raises(RateLimited) as refused:
        auth.authorize("Translate", bearer(TOKEN))
    assert refused.value.retry_after_ms == 500  # one request every 1/2 s
    clock.now += 0.5
    assert auth.authorize("Translate", bearer(TOKEN)) == "batch"


def test_reloading_the_file_keeps_buckets_of_unchanged_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"batch {hash_token(TOKEN)} rate=1\n")
    watched = TokenFile(path)
    assert watched.authenticator.authorize("Translate", bearer(TOKEN)) == "batch"
    assert not watched.check()  # unchanged
    path.write_text(path.read_text() + f"other {hash_token('other-token')}\n")
    assert watched.check()
    assert watched.authenticator.authorize("Translate", bearer("other-token")) == "other"
    with pytest.raises(RateLimited):  # the bucket was kept: still empty
        watched.authenticator.authorize("Translate", bearer(TOKEN))
    path.write_text("broken\n")
    assert not watched.check()  # a broken file keeps the old tokens
    assert watched.authenticator.names == ["batch", "other"]
