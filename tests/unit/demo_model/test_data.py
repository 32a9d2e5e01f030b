"""The demo model's generated data: deterministic, a real seq2seq problem, held-out disjoint."""

from __future__ import annotations

import random

from demo_model.data import HELDOUT_SEED, TRAIN_SEED, generate, heldout_set, training_set
from demo_model.german import number_de
from demo_model.grammar_en_de import sample_pair
from demo_model.reports import sample_report


def test_same_seed_same_data_and_different_seeds_differ() -> None:
    assert list(generate(TRAIN_SEED, 200)) == list(generate(TRAIN_SEED, 200))
    assert list(generate(TRAIN_SEED, 200)) != list(generate(HELDOUT_SEED, 200))


def test_heldout_inputs_never_occur_in_training() -> None:
    train = {e.text for e in training_set(5000)}
    held = heldout_set(200, train)
    assert len(held) == 400
    assert not train & {e.text for e in held}
    assert len({e.text for e in held}) == len(held)


def test_german_numbers_are_composed_units_first() -> None:
    assert number_de(21) == "einundzwanzig"
    assert number_de(57) == "siebenundfünfzig"
    assert number_de(12) == "zwölf"


def test_translation_reorders_subordinate_clauses_verb_last() -> None:
    rng = random.Random(3)
    pairs = [sample_pair(rng) for _ in range(3000)]
    because = [p for p in pairs if p.shape == "because"]
    assert because
    for pair in because:
        assert ", weil " in pair.de
        # The subordinate clause ends with a verb form, never with its object or adverb.
        tail = pair.de.rsplit(", weil ", 1)[1].rstrip(".").split()
        assert tail[-1].islower(), pair.de
    # Not copying: most German sentences share few words with their English source.
    overlap = [len(set(p.en.lower().split()) & set(p.de.lower().split())) for p in pairs]
    assert sum(overlap) / len(overlap) < 2.5


def test_headlines_keep_the_key_fact_and_drop_the_filler() -> None:
    rng = random.Random(4)
    for _ in range(300):
        report = sample_report(rng)
        assert len(report.headline.split()) < len(report.text.split()) / 2
        assert len(report.text.split(". ")) >= 3
