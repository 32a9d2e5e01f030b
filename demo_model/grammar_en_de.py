"""English → German sentence pairs from one abstract clause, rendered twice.

A ``Clause`` holds the meaning (subject, verb, tense, modal, negation, objects, adverbials);
``english`` and ``german`` render it with each language's word order. German needs verb-second
main clauses (also after a fronted adverb), verb-first questions and clauses after a fronted
``wenn`` clause, verb-final subordinate clauses (``weil``/``dass``/``wenn``/``obwohl``) with
separable particles joined, case-marked articles and adjective endings, ``kein`` vs ``nicht``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Literal

from demo_model.german import NP, Case
from demo_model.lexicon import (
    ADJECTIVES,
    CITIES,
    FREQUENCY,
    NAMES,
    NOUNS,
    PLACES,
    PRONOUNS,
    TIMES,
    VERBS,
    WEEKDAYS,
    Adjective,
    Noun,
    Verb,
)

Tense = Literal["pres", "past", "fut"]
Modal = Literal["can", "want", "must"]
Front = Literal["subj", "time", "freq"]

_P = {"1sg": 0, "2sg": 1, "3sg": 2, "1pl": 3, "3pl": 3}
SEIN = ("bin", "bist", "ist", "sind")
WAR = ("war", "warst", "war", "waren")
HABEN = ("habe", "hast", "hat", "haben")
WERDEN = ("werde", "wirst", "wird", "werden")
MODALS: dict[str, tuple[str, tuple[str, str, str, str]]] = {
    "can": ("can", ("kann", "kannst", "kann", "können")),
    "want": ("want to", ("will", "willst", "will", "wollen")),
    "must": ("must", ("muss", "musst", "muss", "müssen")),
}
WEATHER_VERBS = (
    Verb("rain", "rains", "rained", "regnen", ("regne", "regnest", "regnet", "regnen"),
         "geregnet", "haben", "intr", subj_tags=frozenset({"weather"})),
    Verb("snow", "snows", "snowed", "schneien", ("schneie", "schneist", "schneit", "schneien"),
         "geschneit", "haben", "intr", subj_tags=frozenset({"weather"})),
)  # fmt: skip
WEATHER_ADJECTIVES = tuple(a for a in ADJECTIVES if a.en in ("cold", "warm"))


@dataclass(frozen=True, slots=True)
class Adverbial:
    """A phrase with a fixed rendering in each language ("in the park" / "im Park")."""

    en: str
    de: str


@dataclass(frozen=True, slots=True)
class Clause:
    subj: NP
    verb: Verb | None = None  # None: copula with ``adj``
    adj: Adjective | None = None
    very: bool = False
    tense: Tense = "pres"
    modal: Modal | None = None
    neg: bool = False
    obj: NP | None = None  # accusative object
    iobj: NP | None = None  # dative object of give/show/send/bring
    with_np: NP | None = None
    place: Adverbial | None = None  # location or goal
    time: Adverbial | None = None
    freq: Adverbial | None = None
    front: Front = "subj"

    @property
    def p(self) -> int:
        return _P[self.subj.person]


# ---------------------------------------------------------------- English


def _en_verb(c: Clause) -> tuple[str, list[str]]:
    """(finite word, the rest of the verb group) for a declarative clause."""
    third = c.subj.person == "3sg"
    if c.verb is None:
        if c.tense == "fut":
            return "will", ["not", "be"] if c.neg else ["be"]
        if c.tense == "past":
            word = "was" if c.subj.person in ("1sg", "3sg") else "were"
        else:
            word = {"1sg": "am", "3sg": "is"}.get(c.subj.person, "are")
        return word, ["not"] if c.neg else []
    v = c.verb
    if c.modal == "can":
        return ("cannot", [v.en]) if c.neg else ("can", [v.en])
    if c.modal == "want":
        if c.neg:
            return ("does" if third else "do"), ["not", "want", "to", v.en]
        return ("wants" if third else "want"), ["to", v.en]
    if c.modal == "must":
        return "must", [v.en]
    if c.tense == "fut":
        return "will", ["not", v.en] if c.neg else [v.en]
    if c.tense == "past":
        return ("did", ["not", v.en]) if c.neg else (v.en_past, [])
    if c.neg:
        return ("does" if third else "do"), ["not", v.en]
    return (v.en_3sg if third else v.en), []


def _en_question_verb(c: Clause) -> tuple[str, list[str]]:
    """(auxiliary that moves before the subject, the rest) for a question."""
    third = c.subj.person == "3sg"
    if c.verb is None:
        finite, rest = _en_verb(c)
        return finite, rest
    v = c.verb
    if c.modal == "want":
        return ("does" if third else "do"), ["want", "to", v.en]
    if c.modal is not None:
        return MODALS[c.modal][0], [v.en]
    if c.tense == "fut":
        return "will", [v.en]
    if c.tense == "past":
        return "did", [v.en]
    return ("does" if third else "do"), [v.en]


def _en_complements(c: Clause) -> list[str]:
    words: list[str] = []
    v = c.verb
    if c.verb is None:
        assert c.adj is not None
        words += ["very", c.adj.en] if c.very else [c.adj.en]
    elif v is not None and v.en_particle and c.obj is None:
        words.append(v.en_particle)  # "gets up", "goes shopping"
    if c.iobj is not None:
        words.append(c.iobj.en("acc"))
    if c.obj is not None:
        obj = c.obj.en("acc")
        if v is not None and v.en_particle:  # "picks up the boy" / "picks him up"
            words += [obj, v.en_particle] if c.obj.is_pronoun else [v.en_particle, obj]
        else:
            words.append(obj)
    if c.place is not None:
        words.append(c.place.en)
    if c.with_np is not None:
        words += ["with", c.with_np.en("acc")]
    if c.time is not None and c.front != "time":
        words.append(c.time.en)
    return words


def english(c: Clause, *, question: str = "", subordinate: bool = False) -> str:
    """The clause in English, without final punctuation; ``question`` is "", "yes" or a wh-word."""
    subject = c.subj.en("nom")
    freq = [c.freq.en] if c.freq is not None and c.front != "freq" else []
    if question:
        aux, rest = _en_question_verb(c)
        words = [aux, subject, *freq, *rest, *_en_complements(c)]
        if question != "yes":
            words.insert(0, question)
    else:
        finite, rest = _en_verb(c)
        words = [subject, *freq, finite, *rest, *_en_complements(c)]
        if not subordinate and c.front == "time" and c.time is not None:
            words.insert(0, c.time.en)
        elif not subordinate and c.front == "freq" and c.freq is not None:
            words.insert(0, c.freq.en)
    return " ".join(words)


# ---------------------------------------------------------------- German


def _de_verb(c: Clause) -> tuple[str, list[str]]:
    """(finite verb, non-finite parts that go to the end of the clause)."""
    if c.verb is None:
        if c.tense == "fut":
            return WERDEN[c.p], ["sein"]
        return (WAR if c.tense == "past" else SEIN)[c.p], []
    v = c.verb
    if c.modal is not None:
        return MODALS[c.modal][1][c.p], [v.de_inf]
    if c.tense == "fut":
        return WERDEN[c.p], [v.de_inf]
    if c.tense == "past":
        return (HABEN if v.aux == "haben" else SEIN)[c.p], [v.de_part]
    return v.de_pres[c.p], [v.particle] if v.particle else []


def _de_middle(c: Clause, *, with_subject: bool, with_time: bool) -> list[str]:
    """The German middle field: subject, pronouns, time, dative, accusative, nicht, PPs."""
    words: list[str] = []
    if with_subject:
        words.append(c.subj.de("nom"))
    kein = c.neg and c.obj is not None and c.obj.takes_kein
    for np_, case in ((c.obj, "acc"), (c.iobj, "dat")):
        if np_ is not None and np_.is_pronoun:
            words.append(np_.de(case))  # type: ignore[arg-type]
    if with_time and c.time is not None:
        words.append(c.time.de)
    if c.freq is not None and c.front != "freq":
        words.append(c.freq.de)
    if c.iobj is not None and not c.iobj.is_pronoun:
        words.append(c.iobj.de("dat"))
    if c.obj is not None and not c.obj.is_pronoun:
        words.append(c.obj.de("acc", negated=kein))
    if c.neg and not kein:
        words.append("nicht")
    if c.with_np is not None:
        words += ["mit", c.with_np.de("dat")]
    if c.place is not None:
        words.append(c.place.de)
    if c.verb is None:
        assert c.adj is not None
        words += ["sehr", c.adj.de] if c.very else [c.adj.de]
    return words


def german(
    c: Clause,
    *,
    order: Literal["v2", "v1", "final"] = "v2",
    wh: str = "",
) -> str:
    """The clause in German: verb-second, verb-first (questions, after a fronted clause) or
    verb-final (subordinate clauses, separable particle joined to the verb)."""
    finite, tail = _de_verb(c)
    if order == "final":
        middle = _de_middle(c, with_subject=True, with_time=True)
        if c.verb is not None and c.verb.particle and tail == [c.verb.particle]:
            return " ".join([*middle, c.verb.particle + finite])
        return " ".join([*middle, *tail, finite])
    if order == "v1":
        middle = _de_middle(c, with_subject=True, with_time=True)
        words = [finite, *middle, *tail]
        return " ".join([wh, *words] if wh else words)
    if c.front == "time" and c.time is not None:
        first = c.time.de
        middle = _de_middle(c, with_subject=True, with_time=False)
    elif c.front == "freq" and c.freq is not None:
        first = c.freq.de
        middle = _de_middle(c, with_subject=True, with_time=True)
    else:
        first = c.subj.de("nom")
        middle = _de_middle(c, with_subject=False, with_time=True)
    return " ".join([first, finite, *middle, *tail])


# ---------------------------------------------------------------- sampling

_COUNT_NOUNS = tuple(n for n in NOUNS if not n.mass)
_ALL_OBJECT_NOUNS: tuple[Noun, ...] = NOUNS + tuple(p.noun for p in PLACES if "room" in p.noun.tags)


def _fits(adj: Adjective, noun: Noun) -> bool:
    return "any" in adj.tags or bool(adj.tags & noun.tags)


def _maybe_adj(rng: random.Random, noun: Noun, p: float = 0.3) -> Adjective | None:
    if rng.random() >= p:
        return None
    return rng.choice([a for a in ADJECTIVES if _fits(a, noun)])


def sample_count(rng: random.Random) -> int:
    return rng.randint(2, 12) if rng.random() < 0.45 else rng.randint(13, 99)


def noun_phrase(rng: random.Random, noun: Noun, *, allow_num: bool = True) -> NP:
    """A phrase around ``noun``: the/a/my/number/bare plural, maybe with an adjective."""
    adj = _maybe_adj(rng, noun)
    if noun.mass:
        kind = rng.choices(["def", "mass", "poss"], [4, 4, 2])[0]
        return NP(kind, noun, adj=adj, pron=rng.randrange(len(PRONOUNS)))  # type: ignore[arg-type]
    r = rng.random()
    if r < 0.30:
        return NP("def", noun, adj=adj)
    if r < 0.50:
        return NP("indef", noun, adj=adj)
    if r < 0.64:
        return NP("poss", noun, plural=rng.random() < 0.3, adj=adj, pron=rng.randrange(6))
    if r < 0.78:
        return NP("def", noun, plural=True, adj=adj)
    if r < 0.92 and allow_num:
        return NP("num", noun, plural=True, adj=adj, count=sample_count(rng),
                  digits=rng.random() < 0.15)  # fmt: skip
    return NP("bare", noun, plural=True, adj=adj)


def person_phrase(rng: random.Random, *, subject: bool, animals: bool = False) -> NP:
    r = rng.random()
    if r < 0.3:
        return NP("name", name=rng.choice(NAMES))
    if r < 0.55:
        return NP("pron", pron=rng.randrange(len(PRONOUNS)))
    tags = {"person", "animal"} if animals else {"person"}
    noun = rng.choice([n for n in _COUNT_NOUNS if n.tags & tags])
    return noun_phrase(rng, noun, allow_num=subject or rng.random() < 0.5)


def _object(rng: random.Random, verb: Verb) -> NP:
    named = bool(verb.obj_tags & {"person", "named"})
    if named and rng.random() < 0.5:
        return person_phrase(rng, subject=False)
    nouns = [n for n in _ALL_OBJECT_NOUNS if n.tags & verb.obj_tags]
    return noun_phrase(rng, rng.choice(nouns))


def _subject(rng: random.Random, verb: Verb | None) -> NP:
    tags = verb.subj_tags if verb is not None else frozenset({"person", "animal", "thing"})
    if "weather" in tags:
        return NP("it")
    if tags == {"person", "animal", "thing"}:
        if rng.random() < 0.4:
            noun = rng.choice([n for n in _COUNT_NOUNS if n.tags & {"thing", "animal", "food"}])
            return noun_phrase(rng, noun)
        return person_phrase(rng, subject=True, animals=True)
    if "person" in tags:
        return person_phrase(rng, subject=True, animals="animal" in tags and rng.random() < 0.3)
    noun = rng.choice([n for n in _COUNT_NOUNS if n.tags & tags])
    return noun_phrase(rng, noun)


def _place(rng: random.Random, *, goal: bool) -> Adverbial:
    r = rng.random()
    if r < 0.08:
        return Adverbial("home", "nach Hause") if goal else Adverbial("at home", "zu Hause")
    if r < 0.3:
        en, de = rng.choice(CITIES)
        return Adverbial(f"to {en}", f"nach {de}") if goal else Adverbial(f"in {en}", f"in {de}")
    place = rng.choice(PLACES)
    adj = _maybe_adj(rng, place.noun, p=0.1)
    np_ = NP("def", place.noun, adj=adj)
    if goal:
        prep = place.de_to
        case: Case = "dat" if prep == "zu" else "acc"
        return Adverbial(f"to {np_.en()}", np_.de_with_preposition(prep, case))
    return Adverbial(f"{place.en_at} {np_.en()}", np_.de_with_preposition(place.de_at, "dat"))


def _time(rng: random.Random, tense: Tense) -> Adverbial:
    if rng.random() < 0.25:
        en, de = rng.choice(WEEKDAYS)
        return Adverbial(f"on {en}", f"am {de}")
    en, de = rng.choice(TIMES[tense])
    return Adverbial(en, de)


def _pick_verb(rng: random.Random) -> Verb | None:
    kind = rng.choices(
        ["trans", "sep", "ditrans", "motion", "intr", "copula", "weather"],
        [40, 16, 10, 11, 8, 12, 3],
    )[0]
    if kind == "copula":
        return None
    if kind == "weather":
        return rng.choice(WEATHER_VERBS)
    if kind == "sep":
        return rng.choice([v for v in VERBS if v.particle])
    return rng.choice([v for v in VERBS if v.kind == kind and not v.particle])


def sample_clause(
    rng: random.Random,
    *,
    allow_front: bool = True,
    tenses: tuple[Tense, ...] = ("pres", "past", "fut"),
    small: bool = False,
) -> Clause:
    """One random clause; ``small`` keeps it short (for the halves of complex sentences)."""
    verb = _pick_verb(rng)
    subj = _subject(rng, verb)
    tense: Tense = rng.choices(tenses, [5, 3, 2][: len(tenses)])[0]
    ambiguous_read = verb is not None and verb.en == "read" and subj.person != "3sg"
    if verb is not None and (verb.de_inf == "haben" or ambiguous_read):
        tense = "pres"  # "hat gehabt" is unidiomatic; "I read" is ambiguous in English
    modal: Modal | None = None
    if (
        tense == "pres"
        and verb is not None
        and "weather" not in verb.subj_tags
        and rng.random() < 0.18
    ):
        modal = rng.choice(["can", "want", "must"])
    neg = rng.random() < 0.18 and modal != "must"
    c = Clause(subj=subj, verb=verb, tense=tense, modal=modal, neg=neg)
    if verb is None:
        fits = [a for a in ADJECTIVES if subj.noun is None or _fits(a, subj.noun)]
        if subj.kind in ("name", "pron"):
            fits = [a for a in ADJECTIVES if "person" in a.tags or "any" in a.tags]
        if rng.random() < 0.06:
            c = replace(c, subj=NP("it"), adj=rng.choice(WEATHER_ADJECTIVES))
        else:
            c = replace(c, adj=rng.choice(fits), very=not neg and rng.random() < 0.15)
        if subj.kind == "num":
            c = replace(c, subj=replace(subj, kind="def", count=0, digits=False))
    elif verb.kind == "trans":
        obj = _object(rng, verb)
        if neg and obj.kind == "num":
            obj = replace(obj, kind="def", count=0, digits=False)
        c = replace(c, obj=obj)
    elif verb.kind == "ditrans":
        recipient = person_phrase(rng, subject=False)
        if recipient.kind == "num":
            recipient = replace(recipient, kind="def", count=0, digits=False)
        thing = noun_phrase(rng, rng.choice([n for n in NOUNS if n.tags & verb.obj_tags]))
        if neg and thing.kind == "num":
            thing = replace(thing, kind="indef", plural=False, count=0, digits=False)
        if thing.noun is not None and thing.noun.mass and thing.kind == "indef":
            thing = replace(thing, kind="mass")
        c = replace(c, iobj=recipient, obj=thing)
    if verb is not None and verb.kind == "motion":
        c = replace(c, place=_place(rng, goal=True))
        if rng.random() < 0.25 and not small:
            c = replace(c, with_np=_companion(rng, subj))
    elif verb is not None and "weather" not in verb.subj_tags and not neg and not small:
        r = rng.random()
        if r < 0.22:
            c = replace(c, place=_place(rng, goal=False))
        elif r < 0.32 and verb.kind in ("intr", "trans"):
            c = replace(c, with_np=_companion(rng, subj))
    c = _no_reflexive(rng, c)
    if rng.random() < (0.2 if small else 0.35):
        c = replace(c, time=_time(rng, tense))
        if allow_front and rng.random() < 0.45:
            c = replace(c, front="time")
    elif (
        tense == "pres" and modal is None and not neg and verb is not None
        and "weather" not in verb.subj_tags and rng.random() < 0.12
    ):  # fmt: skip
        freq = rng.choice(FREQUENCY)
        c = replace(c, freq=Adverbial(*freq))
        if allow_front and freq[0] in ("sometimes", "usually") and rng.random() < 0.35:
            c = replace(c, front="freq")
    return c


def _no_reflexive(rng: random.Random, c: Clause) -> Clause:
    """Replace an object pronoun that would be reflexive ("I see me") by a name."""
    if c.subj.kind != "pron":
        return c
    for field in ("obj", "iobj"):
        np_ = getattr(c, field)
        if np_ is not None and np_.kind == "pron" and np_.pron == c.subj.pron:
            name = NP("name", name=rng.choice(NAMES))
            c = replace(c, obj=name) if field == "obj" else replace(c, iobj=name)
    return c


def _companion(rng: random.Random, subj: NP) -> NP:
    while True:
        np_ = person_phrase(rng, subject=False, animals=True)
        if np_.kind == "num":
            np_ = replace(np_, kind="def", count=0, digits=False)
        if np_ != subj:
            return np_


def _say_clause(rng: random.Random) -> Clause:
    verb = rng.choice([v for v in VERBS if v.kind == "say"])
    subj = person_phrase(rng, subject=True)
    if subj.kind == "num":
        subj = replace(subj, kind="def", count=0, digits=False)
    tense: Tense = "past" if rng.random() < 0.3 else "pres"
    return Clause(subj=subj, verb=verb, tense=tense)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class Pair:
    en: str
    de: str
    shape: str


def sample_pair(rng: random.Random) -> Pair:
    """One English sentence and its German translation."""
    shape = rng.choices(
        ["simple", "question", "because", "although", "that", "if", "and", "but"],
        [40, 12, 10, 5, 10, 8, 8, 7],
    )[0]
    if shape == "simple":
        c = sample_clause(rng)
        return Pair(_cap(english(c)) + ".", _cap(german(c)) + ".", shape)
    if shape == "question":
        c = sample_clause(rng, allow_front=False)
        c = replace(c, neg=False)
        options = ["yes", "yes", "why"]
        if c.place is None and (c.verb is None or c.verb.kind != "motion"):
            options.append("where")
        if c.time is None:
            options.append("when")
        q = rng.choice(options)
        de_wh = {"yes": "", "why": "warum", "where": "wo", "when": "wann"}[q]
        en = english(c, question=q)
        return Pair(_cap(en) + "?", _cap(german(c, order="v1", wh=de_wh)) + "?", shape)
    if shape in ("because", "although"):
        main = sample_clause(rng, small=True)
        sub = sample_clause(rng, allow_front=False, small=True)
        en_conj, de_conj = ("because", "weil") if shape == "because" else ("although", "obwohl")
        return Pair(
            f"{_cap(english(main))} {en_conj} {english(sub, subordinate=True)}.",
            f"{_cap(german(main))}, {de_conj} {german(sub, order='final')}.",
            shape,
        )
    if shape == "that":
        say = _say_clause(rng)
        sub = sample_clause(rng, allow_front=False, small=True)
        return Pair(
            f"{_cap(english(say))} that {english(sub, subordinate=True)}.",
            f"{_cap(german(say))}, dass {german(sub, order='final')}.",
            shape,
        )
    if shape == "if":
        sub = sample_clause(rng, allow_front=False, tenses=("pres",), small=True)
        main = sample_clause(rng, allow_front=False, tenses=("pres", "fut"), small=True)
        en_conj = rng.choice(["if", "when"])
        return Pair(
            f"{_cap(en_conj)} {english(sub, subordinate=True)}, {english(main)}.",
            f"Wenn {german(sub, order='final')}, {german(main, order='v1')}.",
            shape,
        )
    first = sample_clause(rng, small=True)
    second = sample_clause(rng, allow_front=False, small=True)
    if shape == "and":
        return Pair(
            f"{_cap(english(first))} and {english(second)}.",
            f"{_cap(german(first))} und {german(second)}.",
            shape,
        )
    return Pair(
        f"{_cap(english(first))}, but {english(second)}.",
        f"{_cap(german(first))}, aber {german(second)}.",
        shape,
    )
