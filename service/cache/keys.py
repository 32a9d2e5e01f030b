"""Cache keys: a versioned prefix and a SHA-256 over everything that decides the output.

A result key covers the model's name and revision (the digest of its files, so an upgraded
model never serves an old entry), the task, the route (languages, input template, forced target
prefix), every resolved decoding option that changes the output, and the exact input text. The
text itself never appears in a key, so keys are safe to log and to list in Redis.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from service.manifest import TranslationRoute
from service.routing import Route
from service.types import ResolvedOptions, Task

RESULT_PREFIX = "s2s:v1:r:"
ENCODER_PREFIX = "s2s:v1:e:"


@dataclass(frozen=True, slots=True)
class KeyScope:
    """Everything but the text, hashed once per request; ``key(text)`` finishes the digest."""

    prefix: str
    _digest: hashlib._Hash

    def key(self, text: str) -> str:
        digest = self._digest.copy()
        digest.update(text.encode("utf-8", "surrogatepass"))
        return self.prefix + digest.hexdigest()


def output_options(options: ResolvedOptions) -> list[object]:
    """The options that change what the engine outputs (``return_scores`` does not: cached
    results always keep their scores and the pipeline drops them when not asked)."""
    return list(options.batch_key())


def result_scope(
    *,
    model: str,
    revision: str,
    task: Task,
    route: Route,
    options: ResolvedOptions,
    output_limit: tuple[float, int] | None = None,
) -> KeyScope:
    """``output_limit``: the manifest's (factor, offset) output limit relative to the input,
    when it applies (translation without an explicit max_length): it changes the output."""
    if isinstance(route, TranslationRoute):
        languages = [route.source_language, route.target_language]
    else:
        languages = [route.language]
    scope = {
        "model": model,
        "revision": revision,
        "task": task.value,
        "languages": languages,
        "template": route.input_template,
        "target_prefix": list(route.target_prefix),
        "options": output_options(options),
        "output_limit": list(output_limit) if output_limit is not None else None,
    }
    digest = hashlib.sha256(json.dumps(scope, sort_keys=True).encode())
    digest.update(b"\0")  # the scope ends here; the text follows
    return KeyScope(RESULT_PREFIX, digest)


def encoder_key(revision: str, input_ids: Sequence[int]) -> str:
    """The key of one source's encoder output: the model revision and the encoder's input token
    ids, nothing else, so every target language, task route and option set that feeds the
    encoder the same ids shares one entry (the decoder side never enters the key)."""
    digest = hashlib.sha256(revision.encode("utf-8"))
    digest.update(b"\0")
    digest.update(struct.pack(f"<{len(input_ids)}I", *input_ids))
    return ENCODER_PREFIX + digest.hexdigest()
