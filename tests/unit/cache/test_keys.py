"""Cache keys: stable, sensitive to everything that changes the output, and free of the text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from service.cache.keys import ENCODER_PREFIX, RESULT_PREFIX, encoder_key, result_scope
from service.manifest import SummarizationRoute, TranslationRoute
from service.types import ResolvedOptions, Task

ROUTE = TranslationRoute("en", "de", "translate English to German: {text}")
BASE = dict(
    model="m", revision="sha256:" + "1" * 64, task=Task.TRANSLATE, route=ROUTE,
    options=ResolvedOptions(),
)  # fmt: skip
TEXT = "The dog sees the cat."


def key(text: str = TEXT, **changes: object) -> str:
    return result_scope(**{**BASE, **changes}).key(text)  # type: ignore[arg-type]


def test_same_inputs_give_the_same_versioned_key() -> None:
    assert key() == key()
    assert key().startswith(RESULT_PREFIX)
    assert len(key()) == len(RESULT_PREFIX) + 64


def test_the_text_never_appears_in_the_key() -> None:
    secret = "Meine PIN ist 4711"
    assert "4711" not in key(secret) and "PIN" not in key(secret)


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "other"},
        {"revision": "sha256:" + "2" * 64},
        {"task": Task.SUMMARIZE},
        {"route": TranslationRoute("en", "fr", ROUTE.input_template)},
        {"route": TranslationRoute("en", "de", "{text}")},
        {"route": replace(ROUTE, target_prefix=("__de__",))},
        {"route": SummarizationRoute("en", ROUTE.input_template)},
        {"options": ResolvedOptions(beam_size=4)},
        {"options": ResolvedOptions(max_length=10)},
        {"options": ResolvedOptions(min_length=3)},
        {"options": ResolvedOptions(length_penalty=0.5)},
        {"options": ResolvedOptions(repetition_penalty=1.2)},
        {"options": ResolvedOptions(no_repeat_ngram_size=3)},
        {"options": ResolvedOptions(beam_size=2, num_hypotheses=2)},
        {"options": ResolvedOptions(sampling_top_k=5, seed=1)},
        {"options": ResolvedOptions(sampling_top_k=5, seed=2)},
    ],
)
def test_everything_that_changes_the_output_changes_the_key(changes: dict[str, object]) -> None:
    assert key(**changes) != key()


def test_text_changes_the_key_even_by_one_character() -> None:
    assert key("The dog sees the cat") != key()
    assert key(TEXT + " ") != key()


def test_options_that_cannot_change_the_output_share_the_key() -> None:
    # Scores are always stored; temperature and top-p only matter when sampling.
    assert key(options=ResolvedOptions(return_scores=True)) == key()
    assert key(options=ResolvedOptions(sampling_temperature=0.3)) == key()


def test_encoder_keys_cover_the_revision_and_the_exact_token_ids_only() -> None:
    revision = BASE["revision"]
    ids = [48, 47, 20, 46, 3947, 1]
    key_of = encoder_key
    assert key_of(revision, ids) == key_of(revision, list(ids))  # stable
    assert key_of(revision, ids).startswith(ENCODER_PREFIX)
    assert len(key_of(revision, ids)) == len(ENCODER_PREFIX) + 64
    assert key_of("sha256:" + "2" * 64, ids) != key_of(revision, ids)  # a new model revision
    assert key_of(revision, ids[:-1]) != key_of(revision, ids)
    assert key_of(revision, [*ids[:2], ids[3], ids[2], *ids[4:]]) != key_of(revision, ids)
    assert key_of(revision, [1, 2 << 8]) != key_of(revision, [1 << 8, 2])  # ids, not bytes
    assert not key_of(revision, ids).startswith(RESULT_PREFIX)
