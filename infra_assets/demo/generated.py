"""Procedural articles for large demo sites: every page a distinct (subject, place, angle) topic."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import TypedDict


def _words(text: str) -> list[str]:
    """A comma-separated vocabulary block → its items (keeps the lists compact and readable)."""
    return [" ".join(w.split()) for w in text.split(",") if w.strip()]


SUBJECTS = _words(
    """
    copper kettles, slate roofs, rope bridges, beehive ovens, glass fishing floats, wooden
    clogs, stone arch bridges, post windmills, water wheels, herring smokehouses, clay tobacco
    pipes, felt hats, hand looms, church bells, sea salt pans, cider presses, ice houses, tin
    lanterns, reed thatch roofs, wood-fired kilns, oyster beds, rope walks, signal towers, tower
    clocks, dry docks, lime kilns, willow baskets, cast iron stoves, pipe organs, sundials,
    river ferries, tide mills, carved doorways, terraced vineyards, chestnut orchards, peat
    cuttings, wool mills, barrel cooperages, printing presses, canal boats, stilt houses,
    fishing nets, silver filigree, lacquered boxes, stone fountains, hay barns, pigeon lofts,
    snow fences, mountain huts, ceramic tiles, leather saddles, wind chimes, paper lanterns,
    goat cheeses, honey cellars, spice markets, harbour cranes, forest railways, clay roof
    tiles, marble quarries
    """
)
PLACES = _words(
    """
    Varnholt, Quellmere, Brisca Vale, Tollenbrook, Ardwyn, Skellhaven, Morrow Fen, Caddisford,
    Oskarby, Penlaith, Velmora, Dunmarsh, Keldwater, Ashcombe Reach, Lirrapool, Fennick, Halvard
    Point, Corvello, Nethermoor, Saltgarth, Ombrecourt, Wyndle, Tarrow Heights, Glimmerdale,
    Reskeby, Porthavel, Kilbrenna, Ostmark Lea, Brackwater, Sunnerholm, Ivelpen, Marrowick,
    Cresthaven, Dovrinne, Elmskar, Faradown, Gullhaven, Hestwold, Jorvanna, Kestrel Bay,
    Lowenfirth, Mistral Cove, Norrwick, Orrin Falls, Pellmarsh, Quarrendon, Ravensholm,
    Stelladune, Thornbeck, Umberlee
    """
)
FIRST = _words(
    """
    Ada, Bram, Celia, Doran, Elsie, Fintan, Greta, Hollis, Ines, Jory, Kasia, Leif, Mira, Nils,
    Oona, Piet, Rosalind, Soren, Tilde, Wren
    """
)
LAST = _words(
    """
    Abernook, Bellweather, Corrigan, Dunstable, Everly, Fairweather, Gorse, Hatherley, Ironside,
    Jessop, Kettleby, Larkin, Marlowe, Northcott, Oakes, Pennywhistle, Quayle, Rooksby,
    Stanhope, Thackeray
    """
)
MATERIALS = _words(
    """
    oak, ash wood, river clay, local granite, wrought iron, salvaged brass, limestone, pine tar,
    flax cord, beeswax, hemp rope, chestnut timber
    """
)
HAZARDS = _words(
    """
    winter storms, spring floods, salt spray, summer drought, woodworm, frost heave, rust, damp
    cellars, sea fog, heavy snow
    """
)
SEASONS = _words(
    """
    early spring, high summer, the autumn equinox, midwinter, the first frost
    """
)

# Each angle: title, query, then paragraph templates (the first is always used).
ANGLES = {
    "history": (
        "The History of {Subject} in {place}",
        "when did {place} start building {subject} and how did it change",
        [
            "{Cap} first appeared in {place} around {year}, when {person} began working with "
            "{material} brought down the {river}. Within a generation there were {count} "
            "workshops.",
            "The trade peaked in the {century}, when {place} shipped {subject} to {other}. Ledgers "
            "from that time record {count2} orders in a single year.",
            "Decline came with {hazard} and cheaper imports, and by {year2} only a handful of "
            "families in {place} still knew the old methods.",
            "A revival began when the {place} museum collected surviving {subject} and recorded "
            "the memories of the last makers, including {person2}.",
        ],
    ),
    "making": (
        "How {Subject} Are Made in {place}",
        "what are the steps and materials for making {subject} the {place} way",
        [
            "Makers in {place} build {subject} from {material}, chosen because it survives "
            "{hazard}. The work starts in {season}, when the material is easiest to shape.",
            "The first step is sorting the {material}; {person} teaches apprentices to reject any "
            "piece with a flaw longer than {small} centimetres.",
            "Shaping takes about {days} days for a single piece, and the finishing coat of "
            "{material2} "
            "is applied in {coats} thin layers, each left to cure overnight.",
            "A finished piece from {place} carries a stamp with the maker's initials and the year, "
            "so collectors can trace each of the {subject} back to its workshop.",
        ],
    ),
    "care": (
        "Looking After {Subject} in {place}",
        "how do people in {place} maintain and repair their {subject}",
        [
            "In {place} the main threat to {subject} is {hazard}, so owners inspect them every "
            "{season} and after any severe weather.",
            "{person} recommends cleaning with warm water and a soft brush, then a coat of "
            "{material2}; harsh solvents strip the old finish and shorten the life of the piece.",
            "Small cracks are filled with {material} and left for {days} days before use. Larger "
            "repairs go to one of the {count} registered restorers in {place}.",
            "Well-kept {subject} in {place} last well over {lifespan} years; neglected ones rarely see {short}.",
        ],
    ),
    "festival": (
        "The {Subject} Festival of {place}",
        "what happens at the yearly celebration of {subject} in {place}",
        [
            "Every year in {season}, {place} holds a festival celebrating its {subject}. The first "
            "one, in {year}, drew {count} visitors; recent years have drawn {count3}.",
            "The festival opens with a procession led by {person}, carrying a piece made of "
            "{material} that is kept in the town hall the rest of the year.",
            "Competitions judge the best {subject} in {cats} categories, and winners receive a "
            "ribbon dyed with {dye} from the hills above {place}.",
            "The festival ends at dusk with music by the {river} and a shared supper of {food}.",
        ],
    ),
    "problems": (
        "Common Faults in {Subject} From {place}",
        "why do {subject} in {place} fail and how are the faults fixed",
        [
            "Surveys of {subject} in {place} found that {pct} percent of faults trace back to "
            "{hazard}, far more than to age or heavy use.",
            "The most common fault is a loose joint where the {material} meets the frame; "
            "{person} fixes it by re-seating the joint and pinning it with {material2}.",
            "A second fault, splitting along the grain, appears after about {short} years when the "
            "piece dries too quickly in {season}.",
            "Inspectors in {place} keep a register of {count} known faults and publish advice each "
            "year so owners can catch problems early.",
        ],
    ),
    "visiting": (
        "A Visitor's Guide to the {Subject} of {place}",
        "where can a traveller see {subject} when visiting {place}",
        [
            "The best place to see {subject} in {place} is the old quarter by the {river}, where "
            "{count} examples stand within a short walk of the market square.",
            "Guided walks leave from the harbour office at ten each morning in {season}; the walk "
            "takes about {hours} hours and is led by {person}.",
            "Visitors should not miss the workshop of {person2}, which still uses tools made of "
            "{material} and welcomes questions.",
            "Most sites in {place} are free to visit, though the museum asks for a small donation "
            "toward protecting its {subject} from {hazard}.",
        ],
    ),
    "economics": (
        "The Economics of {Subject} in {place}",
        "how much money does the {subject} trade bring to {place}",
        [
            "The {subject} trade employs {count} families in {place} and, in a good year, brings "
            "in more income than fishing.",
            "A standard piece sells for {price} silver marks, and prices rise each {season} when "
            "buyers from {other} arrive.",
            "The cost of {material} has doubled since {year2}, squeezing small workshops; {person} "
            "organised a cooperative to buy it in bulk.",
            "The town council of {place} now offers apprenticeships to keep the {subject} trade "
            "alive for another generation.",
        ],
    ),
    "tools": (
        "Tools Used for {Subject} in {place}",
        "which hand tools do craftspeople in {place} use to work on {subject}",
        [
            "Workers on {subject} in {place} rely on a kit of about {tools} hand tools, most of "
            "them forged locally from {material}.",
            "The most prized tool is a curved knife called a {place} hook, passed down through "
            "families; {person} still uses one made in {year}.",
            "Measuring is done with notched sticks rather than rulers, each notch marking a "
            "traditional unit of {small} centimetres.",
            "Tools are stored in {material2}-lined chests to protect them from {hazard}.",
        ],
    ),
}
RIVERS = _words(
    """
    river Aske, river Coll, river Marne-Vey, Dunning brook, river Ost, river Tarrin
    """
)
DYES = _words(
    """
    madder, weld, woad, walnut husks, lichen, onion skins
    """
)
FOODS = _words(
    """
    smoked fish and rye bread, barley stew, apple cake, roast chestnuts, goat cheese pies
    """
)
ORIGINS = _words(
    """
    fishing harbour, market crossing, monastery farm, mining camp, river ford, toll station
    """
)
TRAVEL = _words(
    """
    a narrow-gauge railway, the coast road, a ferry twice a day, a mountain pass road, river
    boats in summer
    """
)
# A place reads the same on every page that mentions it, so its facts come from its name alone.
PLACE_TEMPLATE = (
    "{place} is a town of about {population} people on the {home_river}, founded in {founded} as a "
    "{origin}. Most visitors arrive by {travel}."
)
CLOSING_TEMPLATES = [
    "Elsewhere {subject} are now mostly made by machine, but in {place} much of the work is still "
    "done by hand, and the town archive keeps records going back to {year}.",
    "Anyone wanting to learn more can visit the reading room of the {place} library, which holds "
    "{count2} photographs and letters about local {subject}.",
    "Older residents of {place} still tell stories about {subject}, especially about the "
    "winter when "
    "{hazard} nearly ended the trade.",
]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


class Composed(TypedDict):
    """One generated topic written out (`compose`)."""

    title: str
    query: str
    paragraphs: list[str]
    published: datetime
    author: str


def _place_facts(place: str) -> dict[str, str | int]:
    rng = random.Random(f"place:{place}")
    return {
        "place": place,
        "population": rng.randrange(800, 60000, 50),
        "home_river": rng.choice(RIVERS),
        "founded": rng.randint(900, 1500),
        "origin": rng.choice(ORIGINS),
        "travel": rng.choice(TRAVEL),
    }


def topic_count() -> int:
    """How many distinct generated topics exist (the largest n `generated_topics` accepts)."""
    return len(SUBJECTS) * len(PLACES) * len(ANGLES)


def generated_topics(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """n distinct (subject, place, angle) triples, deterministic for (n, seed)."""
    if n < 0 or n > topic_count():
        raise ValueError(f"n must be 0..{topic_count()}")
    angles = list(ANGLES)
    order = list(range(topic_count()))
    random.Random(f"topics:{seed}").shuffle(order)
    out = []
    for k in order[:n]:
        k, a = divmod(k, len(angles))
        s, p = divmod(k, len(PLACES))
        out.append((SUBJECTS[s], PLACES[p], angles[a]))
    return out


def compose(subject: str, place: str, angle: str, seed: int, version: int = 0) -> Composed:
    """Title, query, paragraphs and dates for one generated topic (deterministic)."""
    rng = random.Random(f"{seed}:{subject}:{place}:{angle}")
    title_t, query_t, paragraph_ts = ANGLES[angle]
    year = rng.randint(1420, 1880)
    slots = {
        "Cap": subject[0].upper() + subject[1:],
        "Subject": " ".join(w[0].upper() + w[1:] for w in subject.split()),
        "subject": subject,
        "place": place,
        "year": year,
        "year2": rng.randint(year + 40, 1990),
        "century": f"{year // 100 + 1}th century",
        "count": rng.randint(3, 60),
        "count2": rng.randint(200, 9000),
        "count3": rng.randint(2000, 40000),
        "person": _person(rng),
        "person2": _person(rng),
        "material": rng.choice(MATERIALS),
        "material2": rng.choice(MATERIALS),
        "hazard": rng.choice(HAZARDS),
        "season": rng.choice(SEASONS),
        "river": rng.choice(RIVERS),
        "other": rng.choice([p for p in PLACES if p != place]),
        "small": rng.randint(2, 9),
        "days": rng.randint(2, 20),
        "coats": rng.randint(2, 7),
        "lifespan": rng.choice([40, 60, 80, 120, 200]),
        "short": rng.randint(5, 15),
        "cats": rng.randint(3, 12),
        "dye": rng.choice(DYES),
        "food": rng.choice(FOODS),
        "pct": rng.randint(8, 70),
        "hours": rng.randint(2, 4),
        "price": rng.randint(12, 480),
        "tools": rng.randint(8, 30),
    }
    # Keep the opening paragraph, then a varied selection of the rest in their original order.
    rest = sorted(rng.sample(range(1, len(paragraph_ts)), rng.randint(2, len(paragraph_ts) - 1)))
    paragraphs = [paragraph_ts[i].format(**slots) for i in [0, *rest]]
    paragraphs.insert(1, PLACE_TEMPLATE.format(**_place_facts(place)))
    paragraphs.append(rng.choice(CLOSING_TEMPLATES).format(**slots))
    published = datetime(2023, 1, 1, 8, tzinfo=timezone.utc) + timedelta(
        days=rng.randint(0, 700), minutes=rng.randint(0, 600)
    )
    result: Composed = {
        "title": title_t.format(**slots),
        "query": query_t.format(**slots),
        "paragraphs": paragraphs,
        "published": published,
        "author": _person(rng),
    }
    return result
