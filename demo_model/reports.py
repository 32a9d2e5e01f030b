"""Short news reports and their headlines: the summarisation task of the demo model.

Each report type has a few phrasings of its key facts (one or two sentences), type-specific
background sentences and shared distractors (weather, quotes, traffic, numbers that are not
the news). The headline names the key facts in a compressed form ("Berlin council approves 40
million euro school budget"), so the model has to find them, drop the rest and rewrite verbs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CITIES = (
    "Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Stuttgart", "Dresden", "Leipzig",
    "Bremen", "Hanover", "Nuremberg", "Bonn", "Mainz", "Kiel", "Freiburg", "Heidelberg",
    "Potsdam", "Rostock", "Erfurt", "Kassel", "Augsburg", "Regensburg", "Vienna", "Graz",
    "Salzburg", "Zurich", "Basel", "Bern", "Geneva", "Lyon", "Milan", "Turin", "Prague", "Brno",
    "Warsaw", "Krakow", "Amsterdam", "Rotterdam", "Ghent", "Lisbon", "Porto", "Madrid",
    "Seville", "Oslo", "Bergen", "Copenhagen", "Aarhus", "Helsinki", "Dublin", "Cork",
    "Edinburgh", "Glasgow", "Leeds", "Bristol",
)  # fmt: skip
# Made-up towns, so that the model learns to copy names it has never seen.
_TOWN_HEADS = ("Alt", "Neu", "Ober", "Unter", "Bad ", "Hohen", "Nieder", "Groß", "Klein", "Rot")
_TOWN_TAILS = ("berg", "dorf", "feld", "hausen", "heim", "stadt", "burg", "bach", "wald", "see")
REGIONS = (
    "Bavaria", "Saxony", "Hesse", "Thuringia", "Brandenburg", "Lower Saxony", "the Black Forest",
    "the Alps", "the north coast", "the Baltic coast", "Tyrol", "Styria", "the Rhine valley",
    "Schleswig-Holstein", "the Harz mountains", "the Eifel",
)  # fmt: skip
FIRST_NAMES_F = ("Anna", "Maria", "Julia", "Laura", "Sophie", "Eva", "Claudia", "Petra", "Sabine",
                 "Katrin", "Elena", "Nora", "Ingrid", "Lea", "Miriam")  # fmt: skip
FIRST_NAMES_M = ("Peter", "Thomas", "Michael", "Stefan", "Jan", "Lukas", "Markus", "Andreas",
                 "Tobias", "Felix", "Jonas", "Klaus", "Martin", "Paul", "David")  # fmt: skip
LAST_NAMES = (
    "Schmidt", "Müller", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Schulz", "Koch",
    "Richter", "Klein", "Wolf", "Neumann", "Schwarz", "Braun", "Zimmermann", "Hartmann",
    "Krüger", "Lange", "Werner", "Meyer", "Walter", "König", "Huber", "Novak", "Rossi",
    "Dubois", "Jansen", "Berg", "Lindqvist",
)  # fmt: skip
MASCOTS = (
    "Bears", "Lions", "Eagles", "Wolves", "Sharks", "Tigers", "Foxes", "Falcons",
    "Giants", "Rangers", "Hawks", "Panthers", "Dragons", "Ravens", "Stars", "Rockets",
)  # fmt: skip
COMPANY_HEADS = (
    "Alpina", "Brightline", "Cobalt", "Danube", "Elbtal", "Falkon", "Greenfield", "Harbour",
    "Ironbridge", "Juniper", "Kestrel", "Lumen", "Meridian", "Northstar", "Oakridge", "Pinecrest",
    "Quantum", "Riverside", "Silverline", "Tannenberg", "Upland", "Vantage", "Westbrook",
    "Zenith", "Nordlicht", "Bergmann", "Lindner", "Sonnenfeld", "Weissach", "Rheinau",
)  # fmt: skip
# Company name suffix → what the company is.
COMPANY_KINDS = (
    ("Motors", "car maker"), ("Foods", "food company"), ("Energy", "energy company"),
    ("Bank", "bank"), ("Software", "software company"), ("Airlines", "airline"),
    ("Pharma", "drug maker"), ("Steel", "steel maker"), ("Logistics", "logistics group"),
    ("Telecom", "telecoms company"), ("Media", "media group"), ("Chemicals", "chemicals group"),
    ("Textiles", "textile maker"), ("Robotics", "robot maker"), ("Shipping", "shipping company"),
    ("Insurance", "insurer"), ("Retail", "retailer"), ("Electronics", "electronics maker"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    text: str
    headline: str
    kind: str
    facts: tuple[str, ...]  # strings the headline must contain (names, numbers)


@dataclass(frozen=True, slots=True)
class _Story:
    key: list[str]  # the sentences that carry the news, in order
    background: list[str]  # type-specific sentences that are not the news
    headline: str
    facts: tuple[str, ...]
    weather_ok: bool = True  # may generic weather remarks be added?


def _city(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(_TOWN_HEADS) + rng.choice(_TOWN_TAILS)
    return rng.choice(CITIES)


def _person(rng: random.Random) -> tuple[str, str]:
    """(full name, subject pronoun)."""
    if rng.random() < 0.5:
        return f"{rng.choice(FIRST_NAMES_F)} {rng.choice(LAST_NAMES)}", "She"
    return f"{rng.choice(FIRST_NAMES_M)} {rng.choice(LAST_NAMES)}", "He"


def _company(rng: random.Random) -> tuple[str, str]:
    suffix, kind = rng.choice(COMPANY_KINDS)
    return f"{rng.choice(COMPANY_HEADS)} {suffix}", kind


def _quote(rng: random.Random, text: str) -> str:
    name, _ = _person(rng)
    role = rng.choice(["a spokesman", "a spokeswoman", "a local resident", "an expert"])
    return rng.choice([f'"{text}," said {name}.', f'"{text}," said {role}.'])


BUDGET_BODIES = (
    ("city council", "council"),
    ("regional parliament", "parliament"),
    ("school board", "school board"),
    ("transport committee", "transport committee"),
)
BUDGET_PURPOSES = (
    ("schools", "school"), ("roads", "road"), ("parks", "park"), ("hospitals", "hospital"),
    ("bike lanes", "bike lane"), ("libraries", "library"), ("bridges", "bridge"),
    ("playgrounds", "playground"), ("sports halls", "sports hall"), ("buses", "bus"),
    ("trams", "tram"), ("swimming pools", "swimming pool"), ("flats", "housing"),
)  # fmt: skip
APPROVE = ("approved", "passed", "backed", "agreed to")
REJECT = ("rejected", "voted down", "turned down", "blocked")


def _budget(rng: random.Random) -> _Story:
    city, day, n = _city(rng), rng.choice(WEEKDAYS), rng.randint(2, 900)
    body, short = rng.choice(BUDGET_BODIES)
    plural, singular = rng.choice(BUDGET_PURPOSES)
    yes = rng.random() < 0.7
    verb = rng.choice(APPROVE if yes else REJECT)
    money = f"{n} million euros"
    key = rng.choice(
        [
            [f"The {body} of {city} met on {day}.",
             f"After a long debate it {verb} a budget of {money} for new {plural}."],
            [f"On {day}, the {body} of {city} {verb} a budget of {money} for new {plural}."],
            [f"{city}'s {body} {verb} a plan to spend {money} on new {plural} on {day}."],
            [f"The {body} of {city} {verb} {money} for new {plural} on {day}.",
             "The vote was close."],
        ]
    )  # fmt: skip
    background = [
        f"The mayor called the decision {rng.choice(['historic', 'a mistake', 'long overdue'])}.",
        f"The debate lasted {rng.randint(2, 9)} hours.",
        "Several residents protested outside the town hall.",
        _quote(rng, rng.choice(["This is a good day for our city", "We need more money"])),
        f"The last budget of this kind was agreed in {rng.randint(1990, 2020)}.",
    ]
    action = "approves" if yes else "rejects"
    headline = f"{city} {short} {action} {n} million euro {singular} budget"
    return _Story(key, background, headline, (city, str(n), singular))


def _team(rng: random.Random, avoid: str = "") -> str:
    while True:
        team = f"{rng.choice(CITIES)} {rng.choice(MASCOTS)}"
        if team.split()[0] != avoid.split(" ")[0]:
            return team


def _match(rng: random.Random) -> _Story:
    a = _team(rng)
    b = _team(rng, avoid=a)
    day = rng.choice(WEEKDAYS)
    x = rng.randint(1, 7)
    draw = rng.random() < 0.2
    y = x if draw else rng.randint(0, x - 1)
    if draw:
        key = rng.choice(
            [
                [f"{a} and {b} drew {x} to {x} on {day}."],
                [f"{a} played {b} on {day}.", f"The game ended in a {x} to {x} draw."],
            ]
        )
        headline = f"{a} and {b} draw {x}-{x}"
    else:
        key = rng.choice(
            [
                [f"{a} beat {b} {x} to {y} on {day}."],
                [f"{a} defeated {b} {x} to {y} on {day}."],
                [f"On {day}, {a} won {x} to {y} against {b}."],
                [f"{b} lost to {a} on {day}.", f"The final score was {x} to {y}."],
            ]
        )
        headline = f"{a} beat {b} {x}-{y}"
    player, _ = _person(rng)
    background = [
        f"{player} scored {rng.choice(['twice', 'the first goal', 'in the last minute'])}.",
        f"{rng.randint(2, 60)} thousand fans watched the game.",
        "The coach praised the defence.",
        f"The next game is on {rng.choice(WEEKDAYS)}.",
        _quote(rng, rng.choice(["We played very well", "It was a hard game"])),
    ]
    return _Story(key, background, headline, (a, b, f"{x}-{y}"))


def _earnings(rng: random.Random) -> _Story:
    company, kind = _company(rng)
    city, day = _city(rng), rng.choice(WEEKDAYS)
    n, p = rng.randint(2, 900), rng.randint(2, 40)
    profit = rng.random() < 0.65
    result = "profit" if profit else "loss"
    quarter = rng.choice(["first", "second", "third", "fourth"])
    key1 = rng.choice(
        [
            f"{company}, the {city}-based {kind}, reported a {result} of {n} million euros for "
            f"the {quarter} quarter.",
            f"{company} said on {day} that it made a {result} of {n} million euros in the "
            f"{quarter} quarter.",
            f"The {kind} {company} posted a {result} of {n} million euros for the {quarter} "
            "quarter.",
        ]
    )
    up = rng.random() < 0.6
    key2 = rng.choice(
        [f"Sales {rng.choice(['rose', 'grew', 'increased'])} by {p} percent.",
         f"Revenue was up {p} percent."]
        if up
        else [f"Sales {rng.choice(['fell', 'dropped', 'declined'])} by {p} percent.",
              f"Revenue was down {p} percent."]
    )  # fmt: skip
    background = [
        f"The company employs {rng.randint(2, 90)} thousand people.",
        f"Its shares closed {rng.choice(['slightly higher', 'slightly lower', 'unchanged'])}.",
        "The chief executive said the results were "
        f"{rng.choice(['encouraging', 'disappointing', 'in line with expectations'])}.",
        f"The company was founded in {rng.randint(1900, 2015)}.",
    ]
    direction = "up" if up else "down"
    headline = f"{company} reports {n} million euro {result}, sales {direction} {p} percent"
    return _Story([key1, key2], background, headline, (company, str(n), str(p)))


WARNINGS = {
    "storm": ("a severe storm", "Winds of up to {n} kilometres per hour are expected.",
              "Gusts could reach {n} kilometres per hour.", "winds up to {n} km/h", (70, 180)),
    "heat": ("a heat wave", "Temperatures could reach {n} degrees.",
             "It could get as hot as {n} degrees.", "up to {n} degrees", (32, 44)),
    "snow": ("heavy snow", "Up to {n} centimetres of snow could fall.",
             "Forecasters expect up to {n} centimetres of snow.", "up to {n} cm of snow", (10, 90)),
    "flood": ("heavy rain", "Up to {n} litres of rain per square metre are expected.",
              "Rivers could rise after up to {n} litres of rain per square metre.",
              "up to {n} litres of rain", (30, 200)),
}  # fmt: skip


def _warning(rng: random.Random) -> _Story:
    kind = rng.choice(sorted(WARNINGS))
    phenomenon, detail1, detail2, summary, (low, high) = WARNINGS[kind]
    region, day, n = rng.choice(REGIONS), rng.choice(WEEKDAYS), rng.randint(low, high)
    key1 = rng.choice(
        [
            f"The weather service issued a {kind} warning for {region} on {day}.",
            f"Forecasters warned of {phenomenon} in {region} on {day}.",
            f"On {day}, a {kind} warning was issued for {region}.",
        ]
    )
    key2 = rng.choice([detail1, detail2]).format(n=n)
    background = [
        "Schools will close early.",
        "Residents were asked to stay at home.",
        f"The last warning of this kind was issued in {rng.randint(1990, 2020)}.",
        "Trains may be delayed.",
        _quote(rng, "Please be careful"),
    ]
    headline = f"{kind.capitalize()} warning for {region}, {summary.format(n=n)}"
    return _Story([key1, key2], background, headline, (region, str(n)), weather_ok=False)


CRIMES = (
    ("burglaries", "burglaries"), ("car thefts", "car thefts"), ("bike thefts", "bike thefts"),
    ("bank robberies", "bank robberies"), ("shop thefts", "shop thefts"),
    ("attacks on cash machines", "cash machine attacks"), ("street robberies", "street robberies"),
)  # fmt: skip


def _arrest(rng: random.Random) -> _Story:
    city, day, n = _city(rng), rng.choice(WEEKDAYS), rng.randint(2, 40)
    crimes, short = rng.choice(CRIMES)
    key = rng.choice(
        [
            [f"Police in {city} arrested {n} people on {day} after a series of {crimes}."],
            [f"{n} suspects were arrested in {city} on {day} in connection with a series of "
             f"{crimes}."],
            [f"On {day}, police in {city} detained {n} men suspected of {crimes}."],
            [f"Police in {city} said on {day} that they had arrested {n} people over a series "
             f"of {crimes}."],
        ]
    )  # fmt: skip
    a = rng.randint(16, 30)
    background = [
        f"The suspects are between {a} and {a + rng.randint(5, 30)} years old.",
        "A police spokesman said the investigation continues.",
        "Nobody was injured.",
        "Residents had complained for months.",
        f"The {crimes} began in {rng.choice(['spring', 'summer', 'autumn', 'winter'])}.",
    ]
    headline = f"{city} police arrest {n} over {short}"
    return _Story(key, background, headline, (city, str(n)))


FACILITIES = (
    "library", "museum", "swimming pool", "train station", "concert hall", "hospital", "stadium",
    "school", "bridge", "airport terminal", "sports hall", "theatre", "fire station",
)  # fmt: skip


def _opening(rng: random.Random) -> _Story:
    city, day, n = _city(rng), rng.choice(WEEKDAYS), rng.randint(2, 900)
    facility = rng.choice(FACILITIES)
    key = rng.choice(
        [
            [f"A new {facility} opened in {city} on {day}.", f"It cost {n} million euros."],
            [f"{city} opened a new {facility} on {day}.",
             f"The building cost {n} million euros."],
            [f"On {day}, the mayor of {city} opened a new {facility} that cost {n} million "
             "euros."],
        ]
    )  # fmt: skip
    background = [
        f"It has room for {rng.randint(2, 50) * 100} visitors.",
        f"Construction took {rng.randint(2, 9)} years.",
        "The mayor called it a great day for the city.",
        f"The old {facility} was built in {rng.randint(1900, 1980)}.",
        _quote(rng, "We waited a long time for this"),
    ]
    headline = f"{city} opens new {facility} costing {n} million euros"
    return _Story(key, background, headline, (city, str(n), facility))


def _election(rng: random.Random) -> _Story:
    city, day, p = _city(rng), rng.choice(WEEKDAYS), rng.randint(35, 80)
    person, pronoun = _person(rng)
    other, _ = _person(rng)
    key = rng.choice(
        [
            [f"{person} was elected mayor of {city} on {day} with {p} percent of the vote."],
            [f"Voters in {city} chose {person} as their new mayor on {day}.",
             f"{pronoun} won {p} percent of the vote."],
            [f"{person} won the mayoral election in {city} on {day} with {p} percent of the "
             "vote."],
        ]
    )  # fmt: skip
    background = [
        f"Turnout was {rng.randint(30, 75)} percent.",
        f"{other} came second.",
        f"{pronoun} will take office in {rng.choice(['May', 'June', 'July', 'January'])}.",
        f"{pronoun} was born in {_city(rng)}.",
    ]
    headline = f"{person} elected mayor of {city} with {p} percent"
    return _Story(key, background, headline, (person, city, str(p)))


VEHICLES = ("bus", "train", "tram", "truck", "ferry", "coach")


def _accident(rng: random.Random) -> _Story:
    city, day, n = _city(rng), rng.choice(WEEKDAYS), rng.randint(2, 60)
    vehicle = rng.choice(VEHICLES)
    key = rng.choice(
        [
            [f"{n} people were injured when a {vehicle} crashed near {city} on {day}."],
            [f"A {vehicle} crashed near {city} on {day}.", f"{n} passengers were injured."],
            [f"A {vehicle} accident near {city} left {n} people injured on {day}."],
        ]
    )
    background = [
        "The cause of the accident is not yet known.",
        f"The road was closed for {rng.randint(2, 9)} hours.",
        "Firefighters were at the scene quickly.",
        f"The {vehicle} was carrying {n + rng.randint(5, 60)} people.",
    ]
    headline = f"{n} injured in {vehicle} crash near {city}"
    return _Story(key, background, headline, (str(n), vehicle, city))


def _strike(rng: random.Random) -> _Story:
    company, _ = _company(rng)
    day, p = rng.choice(WEEKDAYS), rng.randint(3, 15)
    key = rng.choice(
        [
            [f"Workers at {company} went on strike on {day}.",
             f"The union is demanding {p} percent more pay."],
            [f"{rng.randint(2, 30)} hundred employees of {company} stopped work on {day} to "
             f"demand a pay rise of {p} percent."],
            [f"The union called a strike at {company} on {day}.",
             f"It wants {p} percent more pay for its members."],
        ]
    )  # fmt: skip
    background = [
        "The company called the demand unrealistic.",
        "Talks will continue next week.",
        f"The company employs {rng.randint(2, 90)} thousand people.",
        f"The last strike was in {rng.randint(1990, 2020)}.",
    ]
    headline = f"{company} workers strike for {p} percent pay rise"
    return _Story(key, background, headline, (company, str(p)))


BUILDINGS = ("warehouse", "school", "hotel", "factory", "church", "barn", "restaurant",
             "department store", "cinema")  # fmt: skip


def _fire(rng: random.Random) -> _Story:
    city, day = _city(rng), rng.choice(WEEKDAYS)
    building = rng.choice(BUILDINGS)
    key = rng.choice(
        [
            [f"A fire destroyed a {building} in {city} on {day}."],
            [f"On {day}, a large fire broke out in a {building} in {city}.",
             "The building burned down completely."],
            [f"A {building} in {city} burned down on {day}."],
        ]
    )  # fmt: skip
    background = [
        f"{rng.randint(20, 150)} firefighters fought the flames for hours.",
        "Nobody was hurt.",
        "The cause of the fire is still unclear.",
        f"The {building} was built in {rng.randint(1850, 1990)}.",
    ]
    headline = f"Fire destroys {building} in {city}"
    return _Story(key, background, headline, (building, city))


def _generic(rng: random.Random, *, weather: bool) -> list[str]:
    out = [
        "Traffic in the city centre was heavy.",
        "Many residents followed the news on the radio.",
        f"A local bakery sold {rng.randint(50, 900)} cakes that morning.",
        "Local newspapers reported on the story for days.",
        f"The next meeting is planned for {rng.choice(WEEKDAYS)}.",
    ]
    if weather:
        out += [
            "It rained all day.",
            "The weather was sunny and warm.",
            "It was a cold and windy day.",
            f"Temperatures reached {rng.randint(5, 30)} degrees in the afternoon.",
        ]
    return out


STORY_KINDS: dict[str, Callable[[random.Random], _Story]] = {
    "budget": _budget,
    "match": _match,
    "earnings": _earnings,
    "warning": _warning,
    "arrest": _arrest,
    "opening": _opening,
    "election": _election,
    "accident": _accident,
    "strike": _strike,
    "fire": _fire,
}


def sample_report(rng: random.Random, kind: str | None = None) -> Report:
    """A report of 3-6 sentences: the key sentences together, distractors before and after."""
    kind = kind or rng.choice(sorted(STORY_KINDS))
    story = STORY_KINDS[kind](rng)
    total = rng.randint(max(3, len(story.key) + 1), 6)
    generic = rng.sample(_generic(rng, weather=story.weather_ok), 3)
    # Usually lead with the news; sometimes bury it after context-free sentences.
    n_pre = 0 if rng.random() < 0.5 else min(rng.randint(1, 2), total - len(story.key))
    pool = story.background + generic[n_pre:]
    post = rng.sample(pool, min(len(pool), total - len(story.key) - n_pre))
    sentences = generic[:n_pre] + list(story.key) + post
    return Report(" ".join(sentences), story.headline, kind, story.facts)
