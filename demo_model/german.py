"""German (and English) noun-phrase morphology: articles, adjective endings, cases, numbers.

Kept apart from the sentence generator so that the inflection rules can be unit-tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from demo_model.lexicon import (
    NUMBER_WORDS_DE,
    NUMBER_WORDS_EN,
    PRONOUNS,
    TENS_DE,
    TENS_EN,
    Adjective,
    Noun,
)

Case = Literal["nom", "acc", "dat"]
Slot = Literal["m", "f", "n", "pl"]
NPKind = Literal["def", "indef", "poss", "num", "bare", "mass", "name", "pron", "it"]

_DEFINITE: dict[tuple[Case, Slot], str] = {
    ("nom", "m"): "der", ("nom", "f"): "die", ("nom", "n"): "das", ("nom", "pl"): "die",
    ("acc", "m"): "den", ("acc", "f"): "die", ("acc", "n"): "das", ("acc", "pl"): "die",
    ("dat", "m"): "dem", ("dat", "f"): "der", ("dat", "n"): "dem", ("dat", "pl"): "den",
}  # fmt: skip
# Endings of ein/kein/mein/dein/sein/ihr/unser.
_EIN_ENDING: dict[tuple[Case, Slot], str] = {
    ("nom", "m"): "", ("nom", "f"): "e", ("nom", "n"): "", ("nom", "pl"): "e",
    ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "", ("acc", "pl"): "e",
    ("dat", "m"): "em", ("dat", "f"): "er", ("dat", "n"): "em", ("dat", "pl"): "en",
}  # fmt: skip
# Adjective endings after a definite article (weak declension).
_WEAK: dict[tuple[Case, Slot], str] = {
    ("nom", "m"): "e", ("nom", "f"): "e", ("nom", "n"): "e", ("nom", "pl"): "en",
    ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "e", ("acc", "pl"): "en",
    ("dat", "m"): "en", ("dat", "f"): "en", ("dat", "n"): "en", ("dat", "pl"): "en",
}  # fmt: skip
# After an ein-word (mixed declension): like weak, except where the article has no ending.
_MIXED: dict[tuple[Case, Slot], str] = {
    **_WEAK,
    ("nom", "m"): "er", ("nom", "n"): "es", ("acc", "n"): "es",
}  # fmt: skip
# Without an article (strong declension): the adjective carries the article's ending.
_STRONG: dict[tuple[Case, Slot], str] = {
    ("nom", "m"): "er", ("nom", "f"): "e", ("nom", "n"): "es", ("nom", "pl"): "e",
    ("acc", "m"): "en", ("acc", "f"): "e", ("acc", "n"): "es", ("acc", "pl"): "e",
    ("dat", "m"): "em", ("dat", "f"): "er", ("dat", "n"): "em", ("dat", "pl"): "en",
}  # fmt: skip

# Preposition + definite article contractions.
CONTRACTIONS: dict[tuple[str, str], str] = {
    ("in", "dem"): "im",
    ("an", "dem"): "am",
    ("zu", "dem"): "zum",
    ("zu", "der"): "zur",
    ("in", "das"): "ins",
    ("an", "das"): "ans",
    ("von", "dem"): "vom",
}


def definite_article(case: Case, slot: Slot) -> str:
    return _DEFINITE[(case, slot)]


def ein_word(stem: str, case: Case, slot: Slot) -> str:
    """``ein``/``kein``/``mein``... with its ending: ``ein_word("unser", "dat", "m")`` → unserem."""
    return stem + _EIN_ENDING[(case, slot)]


def adjective(adj: Adjective, declension: Literal["weak", "mixed", "strong"], case: Case,
              slot: Slot) -> str:  # fmt: skip
    ending = {"weak": _WEAK, "mixed": _MIXED, "strong": _STRONG}[declension][(case, slot)]
    if adj.stem.endswith("e") and ending.startswith("e"):
        return adj.stem + ending[1:]  # leise → leisen, müde → müde
    return adj.stem + ending


def noun_form(noun: Noun, case: Case, plural: bool) -> str:
    if plural:
        return noun.de_dat_pl if case == "dat" else noun.de_pl
    if noun.de_obl and case != "nom":
        return noun.de_obl
    return noun.de


def number_en(n: int) -> str:
    """English number words up to 99 ("twenty-one")."""
    if n < 20:
        return NUMBER_WORDS_EN[n]
    tens, ones = divmod(n, 10)
    return TENS_EN[tens] + (f"-{NUMBER_WORDS_EN[ones]}" if ones else "")


def number_de(n: int) -> str:
    """German number words up to 99, ones before tens ("einundzwanzig")."""
    if n < 20:
        return NUMBER_WORDS_DE[n]
    tens, ones = divmod(n, 10)
    if not ones:
        return TENS_DE[tens]
    one = "ein" if ones == 1 else NUMBER_WORDS_DE[ones]
    return f"{one}und{TENS_DE[tens]}"


def indefinite_en(next_word: str) -> str:
    return "an" if next_word[:1].lower() in "aeiou" else "a"


@dataclass(frozen=True, slots=True)
class NP:
    """A noun phrase, rendered in English and in German in any case.

    ``pron`` indexes ``lexicon.PRONOUNS`` (also the possessor for ``poss``); ``count`` is the
    number of a ``num`` phrase, written as digits when ``digits`` is set.
    """

    kind: NPKind
    noun: Noun | None = None
    plural: bool = False
    adj: Adjective | None = None
    count: int = 0
    digits: bool = False
    pron: int = 0
    name: str = ""

    @property
    def person(self) -> str:
        """Agreement key: 1sg, 2sg, 3sg, 1pl or 3pl."""
        if self.kind == "pron":
            return PRONOUNS[self.pron][2]
        return "3pl" if self.plural else "3sg"

    @property
    def is_pronoun(self) -> bool:
        return self.kind in ("pron", "it")

    @property
    def takes_kein(self) -> bool:
        """Negated with ``kein`` (indefinite, bare plural, mass) rather than ``nicht``."""
        return self.kind in ("indef", "bare", "mass")

    def en(self, case: Case = "nom") -> str:
        if self.kind == "pron":
            return PRONOUNS[self.pron][0 if case == "nom" else 3]
        if self.kind == "it":
            return "it"
        if self.kind == "name":
            return self.name
        assert self.noun is not None
        head = self.noun.en_pl if self.plural else self.noun.en
        words = [self.adj.en, head] if self.adj else [head]
        if self.kind == "def":
            words.insert(0, "the")
        elif self.kind == "indef":
            words.insert(0, indefinite_en(words[0]))
        elif self.kind == "poss":
            words.insert(0, PRONOUNS[self.pron][6])
        elif self.kind == "num":
            words.insert(0, str(self.count) if self.digits else number_en(self.count))
        return " ".join(words)

    def de(self, case: Case, *, negated: bool = False) -> str:
        if self.kind == "pron":
            _, nom, _, _, acc, dat, _, _ = PRONOUNS[self.pron]
            return {"nom": nom, "acc": acc, "dat": dat}[case]
        if self.kind == "it":
            return "es"
        if self.kind == "name":
            return self.name
        assert self.noun is not None
        slot: Slot = "pl" if self.plural else self.noun.gender
        head = noun_form(self.noun, case, self.plural)
        det: str | None
        declension: Literal["weak", "mixed", "strong"]
        if self.kind == "def":
            det, declension = definite_article(case, slot), "weak"
        elif self.kind == "poss":
            det, declension = ein_word(PRONOUNS[self.pron][7], case, slot), "mixed"
        elif self.kind == "num":
            det = str(self.count) if self.digits else number_de(self.count)
            declension = "strong"
        elif negated:  # indef, bare, mass → kein
            det, declension = ein_word("kein", case, slot), "mixed"
        elif self.kind == "indef":
            det, declension = ein_word("ein", case, slot), "mixed"
        else:  # bare plural or mass noun
            det, declension = None, "strong"
        words = [det] if det else []
        if self.adj:
            words.append(adjective(self.adj, declension, case, slot))
        words.append(head)
        return " ".join(words)

    def de_with_preposition(self, prep: str, case: Case) -> str:
        """``in`` + dem Park → im Park (contracted whenever the article allows it)."""
        text = self.de(case)
        if self.kind == "def":
            article, _, rest = text.partition(" ")
            short = CONTRACTIONS.get((prep, article))
            if short:
                return f"{short} {rest}"
        return f"{prep} {text}"
