"""The controlled English/German vocabulary of the translation task.

Every entry carries the morphology the grammar needs (gender, plural, weak-noun forms, verb
conjugations, participles and auxiliaries), so the generator never guesses an inflection.
The tables are plain text so that docs/demo-model.md can list them and a reader can check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Gender = Literal["m", "f", "n"]


@dataclass(frozen=True, slots=True)
class Noun:
    en: str
    en_pl: str
    de: str
    de_pl: str
    gender: Gender
    tags: frozenset[str]
    de_obl: str = ""  # accusative/dative singular of weak masculine nouns ("den Jungen")
    mass: bool = False  # used without article and without plural ("coffee" → "Kaffee")

    @property
    def de_dat_pl(self) -> str:
        """Dative plural adds -n unless the plural already ends in -n or -s."""
        return self.de_pl if self.de_pl.endswith(("n", "s")) else self.de_pl + "n"


@dataclass(frozen=True, slots=True)
class Adjective:
    en: str
    de: str  # predicative form ("teuer")
    stem: str  # inflection stem ("teur")
    tags: frozenset[str]  # which nouns it fits: "any", "person", "thing", "food", ...


@dataclass(frozen=True, slots=True)
class Verb:
    """A verb with its English forms and German conjugation.

    ``de_pres`` is (ich, du, er/sie, wir/sie) without a separable particle; ``particle`` is the
    German separable prefix ("an" in "anrufen"), ``en_particle`` the English one ("up").
    """

    en: str
    en_3sg: str
    en_past: str
    de_inf: str
    de_pres: tuple[str, str, str, str]
    de_part: str
    aux: Literal["haben", "sein"]
    kind: Literal["trans", "intr", "ditrans", "motion", "say"]
    obj_tags: frozenset[str] = frozenset()
    subj_tags: frozenset[str] = frozenset({"person"})
    particle: str = ""
    en_particle: str = ""


def _nouns(table: str) -> tuple[Noun, ...]:
    out = []
    for line in table.strip().splitlines():
        cols = [c.strip() for c in line.split("|")]
        en, en_pl, de, de_pl, gender, tags = cols[:6]
        extra = cols[6] if len(cols) > 6 else ""
        assert gender in ("m", "f", "n"), line
        out.append(
            Noun(
                en=en,
                en_pl=en_pl,
                de=de,
                de_pl=de_pl,
                gender=gender,  # type: ignore[arg-type]
                tags=frozenset(tags.split(",")),
                de_obl=extra if extra not in ("", "mass") else "",
                mass=extra == "mass",
            )
        )
    return tuple(out)


# en | en plural | de | de plural | gender | tags | weak-noun oblique form or "mass"
NOUNS = _nouns(
    """
man|men|Mann|Männer|m|person
woman|women|Frau|Frauen|f|person
child|children|Kind|Kinder|n|person
boy|boys|Junge|Jungen|m|person|Jungen
girl|girls|Mädchen|Mädchen|n|person
teacher|teachers|Lehrer|Lehrer|m|person
doctor|doctors|Arzt|Ärzte|m|person
student|students|Student|Studenten|m|person|Studenten
neighbour|neighbours|Nachbar|Nachbarn|m|person|Nachbarn
police officer|police officers|Polizist|Polizisten|m|person|Polizisten
colleague|colleagues|Kollege|Kollegen|m|person|Kollegen
friend|friends|Freund|Freunde|m|person
brother|brothers|Bruder|Brüder|m|person
sister|sisters|Schwester|Schwestern|f|person
mother|mothers|Mutter|Mütter|f|person
father|fathers|Vater|Väter|m|person
grandmother|grandmothers|Großmutter|Großmütter|f|person
cook|cooks|Koch|Köche|m|person
baker|bakers|Bäcker|Bäcker|m|person
farmer|farmers|Bauer|Bauern|m|person|Bauern
king|kings|König|Könige|m|person
queen|queens|Königin|Königinnen|f|person
waiter|waiters|Kellner|Kellner|m|person
driver|drivers|Fahrer|Fahrer|m|person
nurse|nurses|Krankenschwester|Krankenschwestern|f|person
dog|dogs|Hund|Hunde|m|animal
cat|cats|Katze|Katzen|f|animal
horse|horses|Pferd|Pferde|n|animal
bird|birds|Vogel|Vögel|m|animal
cow|cows|Kuh|Kühe|f|animal
mouse|mice|Maus|Mäuse|f|animal
rabbit|rabbits|Hase|Hasen|m|animal|Hasen
car|cars|Auto|Autos|n|thing,vehicle
book|books|Buch|Bücher|n|thing,readable
table|tables|Tisch|Tische|m|thing,furniture
chair|chairs|Stuhl|Stühle|m|thing,furniture
house|houses|Haus|Häuser|n|thing,building,room
letter|letters|Brief|Briefe|m|thing,readable,writable
bag|bags|Tasche|Taschen|f|thing,portable
key|keys|Schlüssel|Schlüssel|m|thing,portable
door|doors|Tür|Türen|f|thing,openable
window|windows|Fenster|Fenster|n|thing,openable
lamp|lamps|Lampe|Lampen|f|thing,device
computer|computers|Computer|Computer|m|thing,device
phone|phones|Telefon|Telefone|n|thing,device,portable
bicycle|bicycles|Fahrrad|Fahrräder|n|thing,vehicle
ball|balls|Ball|Bälle|m|thing,portable
picture|pictures|Bild|Bilder|n|thing,drawable
cup|cups|Tasse|Tassen|f|thing,portable
glass|glasses|Glas|Gläser|n|thing,portable
box|boxes|Kiste|Kisten|f|thing,openable,portable
hat|hats|Hut|Hüte|m|thing,clothing
coat|coats|Mantel|Mäntel|m|thing,clothing
shoe|shoes|Schuh|Schuhe|m|thing,clothing
clock|clocks|Uhr|Uhren|f|thing
newspaper|newspapers|Zeitung|Zeitungen|f|thing,readable,portable
flower|flowers|Blume|Blumen|f|thing,drawable
ticket|tickets|Fahrkarte|Fahrkarten|f|thing,portable
radio|radios|Radio|Radios|n|thing,device
television|televisions|Fernseher|Fernseher|m|thing,device
light|lights|Licht|Lichter|n|thing,device
umbrella|umbrellas|Regenschirm|Regenschirme|m|thing,portable
bed|beds|Bett|Betten|n|thing,furniture
dress|dresses|Kleid|Kleider|n|thing,clothing
shirt|shirts|Hemd|Hemden|n|thing,clothing
ring|rings|Ring|Ringe|m|thing,portable
pen|pens|Stift|Stifte|m|thing,portable
gift|gifts|Geschenk|Geschenke|n|thing,portable
boat|boats|Boot|Boote|n|thing,vehicle,drawable
bottle|bottles|Flasche|Flaschen|f|thing,portable,openable
room|rooms|Zimmer|Zimmer|n|thing,room
song|songs|Lied|Lieder|n|song,writable
story|stories|Geschichte|Geschichten|f|readable,writable
apple|apples|Apfel|Äpfel|m|food
bread|breads|Brot|Brote|n|food
cake|cakes|Kuchen|Kuchen|m|food
banana|bananas|Banane|Bananen|f|food
egg|eggs|Ei|Eier|n|food
soup|soups|Suppe|Suppen|f|food,cookable
pizza|pizzas|Pizza|Pizzas|f|food,cookable
orange|oranges|Orange|Orangen|f|food
sausage|sausages|Wurst|Würste|f|food
tomato|tomatoes|Tomate|Tomaten|f|food
potato|potatoes|Kartoffel|Kartoffeln|f|food,cookable
carrot|carrots|Karotte|Karotten|f|food
cookie|cookies|Keks|Kekse|m|food
coffee|coffees|Kaffee|Kaffees|m|drink|mass
tea|teas|Tee|Tees|m|drink|mass
milk|milks|Milch|Milch|f|drink|mass
water|waters|Wasser|Wasser|n|drink|mass
juice|juices|Saft|Säfte|m|drink|mass
wine|wines|Wein|Weine|m|drink|mass
"""
)


@dataclass(frozen=True, slots=True)
class Place:
    """A place for "in the park" (location, dative) and "to the park" (direction).

    ``en_at`` is the English location preposition; ``de_at`` and ``de_to`` the German ones
    ("in"/"an"/"auf" + dative, "in"/"an" + accusative or "zu" + dative), contracted when the
    article allows it (im, am, ins, zum, zur).
    """

    noun: Noun
    en_at: str
    de_at: str
    de_to: str


def _places(table: str) -> tuple[Place, ...]:
    out = []
    for line in table.strip().splitlines():
        en, en_pl, de, de_pl, gender, tags, en_at, de_at, de_to = (
            c.strip() for c in line.split("|")
        )
        noun = _nouns(f"{en}|{en_pl}|{de}|{de_pl}|{gender}|{tags}")[0]
        out.append(Place(noun=noun, en_at=en_at, de_at=de_at, de_to=de_to))
    return tuple(out)


# en | en plural | de | de plural | gender | tags | English "at" preposition | German location prep | German goal prep
PLACES = _places(
    """
park|parks|Park|Parks|m|place|in|in|in
kitchen|kitchens|Küche|Küchen|f|place,room|in|in|in
garden|gardens|Garten|Gärten|m|place|in|in|in
school|schools|Schule|Schulen|f|place|at|in|zu
office|offices|Büro|Büros|n|place,room|in|in|in
station|stations|Bahnhof|Bahnhöfe|m|place|at|an|zu
market|markets|Markt|Märkte|m|place|at|auf|zu
library|libraries|Bibliothek|Bibliotheken|f|place|in|in|in
hospital|hospitals|Krankenhaus|Krankenhäuser|n|place|in|in|in
restaurant|restaurants|Restaurant|Restaurants|n|place|in|in|in
museum|museums|Museum|Museen|n|place|in|in|in
supermarket|supermarkets|Supermarkt|Supermärkte|m|place|in|in|in
cinema|cinemas|Kino|Kinos|n|place|at|in|in
bakery|bakeries|Bäckerei|Bäckereien|f|place|at|in|zu
church|churches|Kirche|Kirchen|f|place|in|in|in
zoo|zoos|Zoo|Zoos|m|place|at|in|in
hotel|hotels|Hotel|Hotels|n|place|in|in|in
bank|banks|Bank|Banken|f|place|at|in|zu
airport|airports|Flughafen|Flughäfen|m|place|at|an|zu
beach|beaches|Strand|Strände|m|place|on|an|an
forest|forests|Wald|Wälder|m|place|in|in|in
"""
)

# English city name → German city name; "in Berlin" → "in Berlin", "to Berlin" → "nach Berlin".
CITIES: tuple[tuple[str, str], ...] = (
    ("Berlin", "Berlin"),
    ("Hamburg", "Hamburg"),
    ("Munich", "München"),
    ("Cologne", "Köln"),
    ("Vienna", "Wien"),
    ("Zurich", "Zürich"),
    ("Paris", "Paris"),
    ("London", "London"),
    ("Rome", "Rom"),
    ("Frankfurt", "Frankfurt"),
    ("Dresden", "Dresden"),
    ("Leipzig", "Leipzig"),
    ("Prague", "Prag"),
    ("Amsterdam", "Amsterdam"),
    ("Madrid", "Madrid"),
    ("Lisbon", "Lissabon"),
    ("Warsaw", "Warschau"),
    ("Bremen", "Bremen"),
    ("Stuttgart", "Stuttgart"),
    ("Venice", "Venedig"),
)

NAMES: tuple[str, ...] = (
    "Anna", "Peter", "Maria", "Thomas", "Lukas", "Sophie", "Max", "Julia", "Paul", "Laura",
    "Felix", "Emma", "David", "Lisa", "Jonas", "Mia", "Leon", "Clara", "Ben", "Hannah",
    "Tim", "Sarah", "Jan", "Lena", "Martin", "Eva", "Simon", "Nina", "Tom", "Marie",
)  # fmt: skip


def _adjectives(table: str) -> tuple[Adjective, ...]:
    out = []
    for line in table.strip().splitlines():
        en, de, stem, tags = (c.strip() for c in line.split("|"))
        out.append(Adjective(en=en, de=de, stem=stem or de, tags=frozenset(tags.split(","))))
    return tuple(out)


# en | de predicative | de inflection stem (when it differs) | noun tags it fits
ADJECTIVES = _adjectives(
    """
big|groß||any
small|klein||any
old|alt||any
new|neu||thing,food,drink
young|jung||person,animal
red|rot||thing,food
blue|blau||thing
green|grün||thing,food
black|schwarz||thing,animal
white|weiß||thing,animal
beautiful|schön||any
expensive|teuer|teur|thing,food,drink
cheap|billig||thing,food,drink
fast|schnell||animal,thing
happy|glücklich||person,animal
tired|müde||person,animal
friendly|freundlich||person,animal
loud|laut||person,animal,thing
quiet|leise||person,animal,thing
heavy|schwer||thing
long|lang||thing
short|kurz||thing
warm|warm||thing,food,drink
cold|kalt||thing,food,drink
clean|sauber||thing
dirty|schmutzig||thing,animal
funny|lustig||person,animal,thing
clever|klug||person,animal
brave|mutig||person
hungry|hungrig||person,animal
famous|berühmt||person,thing
strange|seltsam||any
sweet|süß||food,drink,animal
fresh|frisch||food,drink
dark|dunkel|dunkl|thing
"""
)

NUMBER_WORDS_EN: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
TENS_EN: tuple[str, ...] = (
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
)  # fmt: skip
NUMBER_WORDS_DE: tuple[str, ...] = (
    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn",
    "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn",
    "neunzehn",
)  # fmt: skip
TENS_DE: tuple[str, ...] = (
    "", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig", "neunzig",
)  # fmt: skip


def _regular(stem: str) -> tuple[str, str, str, str]:
    """Present forms of a regular verb: e-insertion after -t/-d/-chn/-ffn, -st → -t after s/ß/z."""
    if stem.endswith(("t", "d", "chn", "ffn", "gn")):
        return (stem + "e", stem + "est", stem + "et", stem + "en")
    if stem.endswith(("s", "ß", "z")):
        return (stem + "e", stem + "t", stem + "t", stem + "en")
    return (stem + "e", stem + "st", stem + "t", stem + "en")


def _verbs(table: str) -> tuple[Verb, ...]:
    out = []
    for line in table.strip().splitlines():
        cols = [c.strip() for c in line.split("|")]
        en, en_3sg, en_past, de_inf, pres, part, aux, kind, objs, subjs = cols
        en_base, _, en_particle = en.partition(" ")
        particle = ""
        if "+" in de_inf:
            particle, de_inf = de_inf.split("+")
        infinitive = particle + de_inf
        forms = tuple(pres.split()) if pres else _regular(de_inf[: -len("en")])
        assert len(forms) == 4, line
        out.append(
            Verb(
                en=en_base,
                en_3sg=en_3sg,
                en_past=en_past,
                de_inf=infinitive,
                de_pres=forms,
                de_part=part,
                aux=aux,  # type: ignore[arg-type]
                kind=kind,  # type: ignore[arg-type]
                obj_tags=frozenset(objs.split(",")) if objs else frozenset(),
                subj_tags=frozenset(subjs.split(",")) if subjs else frozenset({"person"}),
                particle=particle,
                en_particle=en_particle,
            )
        )
    return tuple(out)


# en base [particle] | 3sg | past | de infinitive (particle+stem) | present ich du er wir
# (empty: regular) | participle | aux | kind | object tags | subject tags (empty: person)
VERBS = _verbs(
    """
buy|buys|bought|kaufen||gekauft|haben|trans|thing,food|
see|sees|saw|sehen|sehe siehst sieht sehen|gesehen|haben|trans|person,animal,thing,named|person,animal
read|reads|read|lesen|lese liest liest lesen|gelesen|haben|trans|readable|
find|finds|found|finden||gefunden|haben|trans|person,animal,thing,named|person,animal
have|has|had|haben|habe hast hat haben|gehabt|haben|trans|animal,thing|
need|needs|needed|brauchen||gebraucht|haben|trans|thing,person,named|
visit|visits|visited|besuchen||besucht|haben|trans|person,named|
carry|carries|carried|tragen|trage trägst trägt tragen|getragen|haben|trans|thing,animal|
wash|washes|washed|waschen|wasche wäschst wäscht waschen|gewaschen|haben|trans|thing,animal|
paint|paints|painted|malen||gemalt|haben|trans|drawable,building|
build|builds|built|bauen||gebaut|haben|trans|building,furniture|
sell|sells|sold|verkaufen||verkauft|haben|trans|thing,food|
open|opens|opened|öffnen||geöffnet|haben|trans|openable|
close|closes|closed|schließen|schließe schließt schließt schließen|geschlossen|haben|trans|openable|
eat|eats|ate|essen|esse isst isst essen|gegessen|haben|trans|food|person,animal
drink|drinks|drank|trinken||getrunken|haben|trans|drink|person,animal
write|writes|wrote|schreiben||geschrieben|haben|trans|writable|
clean|cleans|cleaned|putzen||geputzt|haben|trans|thing,room|
take|takes|took|nehmen|nehme nimmst nimmt nehmen|genommen|haben|trans|thing,food|
love|loves|loved|lieben||geliebt|haben|trans|person,animal,named|
know|knows|knew|kennen||gekannt|haben|trans|person,named,song,story|
order|orders|ordered|bestellen||bestellt|haben|trans|food,drink|
forget|forgets|forgot|vergessen|vergesse vergisst vergisst vergessen|vergessen|haben|trans|portable,person,named|
draw|draws|drew|zeichnen||gezeichnet|haben|trans|drawable,animal,person,named|
repair|repairs|repaired|reparieren||repariert|haben|trans|device,vehicle,furniture|
hold|holds|held|halten|halte hältst hält halten|gehalten|haben|trans|portable,animal|
cook|cooks|cooked|kochen||gekocht|haben|trans|cookable|
sing|sings|sang|singen||gesungen|haben|trans|song|
give|gives|gave|geben|gebe gibst gibt geben|gegeben|haben|ditrans|portable,food|
show|shows|showed|zeigen||gezeigt|haben|ditrans|thing,readable,drawable|
send|sends|sent|schicken||geschickt|haben|ditrans|readable,portable|
bring|brings|brought|bringen||gebracht|haben|ditrans|portable,food,drink|
sleep|sleeps|slept|schlafen|schlafe schläfst schläft schlafen|geschlafen|haben|intr||person,animal
work|works|worked|arbeiten||gearbeitet|haben|intr||
play|plays|played|spielen||gespielt|haben|intr||person,animal
dance|dances|danced|tanzen||getanzt|haben|intr||
laugh|laughs|laughed|lachen||gelacht|haben|intr||
wait|waits|waited|warten||gewartet|haben|intr||person,animal
go|goes|went|gehen||gegangen|sein|motion||person,animal
drive|drives|drove|fahren|fahre fährst fährt fahren|gefahren|sein|motion||
fly|flies|flew|fliegen||geflogen|sein|motion||person,animal
run|runs|ran|laufen|laufe läufst läuft laufen|gelaufen|sein|motion||person,animal
come|comes|came|kommen||gekommen|sein|motion||person,animal
call|calls|called|an+rufen|rufe rufst ruft rufen|angerufen|haben|trans|person,named|
pick up|picks|picked|ab+holen||abgeholt|haben|trans|person,named,portable|
switch on|switches|switched|ein+schalten||eingeschaltet|haben|trans|device|
switch off|switches|switched|aus+schalten||ausgeschaltet|haben|trans|device|
invite|invites|invited|ein+laden|lade lädst lädt laden|eingeladen|haben|trans|person,named|
tidy up|tidies|tidied|auf+räumen||aufgeräumt|haben|trans|room|
bring along|brings|brought|mit+bringen||mitgebracht|haben|trans|portable,food,drink|
get up|gets|got|auf+stehen|stehe stehst steht stehen|aufgestanden|sein|intr||
go shopping|goes|went|ein+kaufen||eingekauft|haben|intr||
come along|comes|came|mit+kommen||mitgekommen|sein|intr||person,animal
say|says|said|sagen||gesagt|haben|say||
think|thinks|thought|denken||gedacht|haben|say||
know|knows|knew|wissen|weiß weißt weiß wissen|gewusst|haben|say||
hope|hopes|hoped|hoffen||gehofft|haben|say||
"""
)

# Subject pronouns: English, German, person key ("1sg", "2sg", "3sg", "1pl", "3pl"),
# English accusative, German accusative, German dative, possessive (en, de stem).
PRONOUNS: tuple[tuple[str, str, str, str, str, str, str, str], ...] = (
    ("I", "ich", "1sg", "me", "mich", "mir", "my", "mein"),
    ("you", "du", "2sg", "you", "dich", "dir", "your", "dein"),
    ("he", "er", "3sg", "him", "ihn", "ihm", "his", "sein"),
    ("she", "sie", "3sg", "her", "sie", "ihr", "her", "ihr"),
    ("we", "wir", "1pl", "us", "uns", "uns", "our", "unser"),
    ("they", "sie", "3pl", "them", "sie", "ihnen", "their", "ihr"),
)

WEEKDAYS: tuple[tuple[str, str], ...] = (
    ("Monday", "Montag"),
    ("Tuesday", "Dienstag"),
    ("Wednesday", "Mittwoch"),
    ("Thursday", "Donnerstag"),
    ("Friday", "Freitag"),
    ("Saturday", "Samstag"),
    ("Sunday", "Sonntag"),
)

# Time adverbials per tense: (English, German). "on Monday" etc. are added from WEEKDAYS.
TIMES: dict[str, tuple[tuple[str, str], ...]] = {
    "pres": (
        ("today", "heute"),
        ("now", "jetzt"),
        ("every day", "jeden Tag"),
        ("every week", "jede Woche"),
        ("in the morning", "am Morgen"),
        ("in the afternoon", "am Nachmittag"),
        ("in the evening", "am Abend"),
        ("at night", "in der Nacht"),
    ),
    "past": (
        ("yesterday", "gestern"),
        ("last week", "letzte Woche"),
        ("last year", "letztes Jahr"),
        ("this morning", "heute Morgen"),
        ("yesterday evening", "gestern Abend"),
    ),
    "fut": (
        ("tomorrow", "morgen"),
        ("next week", "nächste Woche"),
        ("next year", "nächstes Jahr"),
        ("tomorrow morning", "morgen früh"),
        ("soon", "bald"),
    ),
}

# Frequency adverbs: English before the verb ("Anna often reads"), German after it.
FREQUENCY: tuple[tuple[str, str], ...] = (
    ("often", "oft"),
    ("always", "immer"),
    ("sometimes", "manchmal"),
    ("usually", "meistens"),
)
