"""Country reference data for realistic demo customers: names, cities, streets, phone number plans.

Phone plans use number ranges that are valid in each country's numbering plan (checked against the
``phonenumbers`` library by the tests); this module stays stdlib-only, as emulators must.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    postal_prefix: str
    region: str
    area_code: str  # national significant number prefix of landlines
    lead: str = ""  # first subscriber digits that keep the number in an assigned range


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    store: str
    dial: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[City, ...]
    domains: tuple[str, ...]
    titles: tuple[str, ...]
    salutations: tuple[str, ...]
    mobile_prefixes: tuple[str, ...]
    mobile_length: int  # length of the national significant number
    landline_length: int


def _split(names: str) -> tuple[str, ...]:
    return tuple(names.split("|"))


COUNTRIES: dict[str, Country] = {
    "DE": Country(
        "DE", "de-DE", "eu-store", "49",
        _split("Anna|Lukas|Sophie|Jonas|Marie|Felix|Lea|Maximilian|Hannah|Paul|Jürgen|Käthe"),
        _split("Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann|Köhler|Groß"),
        _split("Hauptstraße|Bahnhofstraße|Gartenweg|Lindenallee|Schillerstraße|Goethestraße|Am Markt"),
        (
            City("Berlin", "10", "Berlin", "30"),
            City("München", "80", "Bayern", "89"),
            City("Hamburg", "20", "Hamburg", "40"),
            City("Köln", "50", "Nordrhein-Westfalen", "221"),
            City("Frankfurt am Main", "60", "Hessen", "69"),
        ),
        ("web.de", "gmx.de", "t-online.de", "posteo.de", "example.de"),
        ("Dr.", "Prof.", "Dr. med."),
        ("Herr", "Frau"),
        _split("151|152|157|160|162|170|171|172|173|174|175|176|177|178|179"),
        11, 10,
    ),
    "GB": Country(
        "GB", "en-GB", "uk-store", "44",
        _split("Oliver|Amelia|George|Isla|Harry|Ava|Jack|Emily|Charlie|Grace|Siobhan|Rhys"),
        _split("Smith|Jones|Taylor|Brown|Williams|Wilson|Evans|Thomas|Roberts|O'Connor|Hughes"),
        _split("High Street|Station Road|Church Lane|Victoria Road|Park Avenue|Mill Lane|The Crescent"),
        (
            City("London", "SW1", "Greater London", "20", "7"),
            City("Manchester", "M1", "Greater Manchester", "161"),
            City("Birmingham", "B1", "West Midlands", "121", "4"),
            City("Leeds", "LS1", "West Yorkshire", "113", "2"),
        ),
        ("gmail.com", "outlook.com", "btinternet.com", "example.co.uk"),
        ("Dr", "Prof", "Sir", "Dame"),
        ("Mr", "Mrs", "Ms", "Mx"),
        _split("7712|7723|7734|7745|7756|7767|7801|7812|7845|7856|7867|7878|7889|7901|7923|7945|7956|7967|7978|7989"),
        10, 10,
    ),
    "FR": Country(
        "FR", "fr-FR", "eu-store", "33",
        _split("Camille|Louis|Léa|Gabriel|Chloé|Hugo|Manon|Arthur|Inès|Jules|Zoé|Théo"),
        _split("Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Lefèvre"),
        _split(
            "Rue de la Paix|Avenue des Champs-Élysées|Rue Victor Hugo|Boulevard Saint-Michel|"
            "Rue du Moulin"
        ),
        (
            City("Paris", "75", "Île-de-France", "1"),
            City("Lyon", "69", "Auvergne-Rhône-Alpes", "4", "7"),
            City("Marseille", "13", "Provence-Alpes-Côte d'Azur", "4", "9"),
            City("Bordeaux", "33", "Nouvelle-Aquitaine", "5", "56"),
        ),
        ("orange.fr", "free.fr", "laposte.net", "example.fr"),
        ("Dr", "Pr", "Me"),
        ("M.", "Mme"),
        ("60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78"),
        9, 9,
    ),
    "US": Country(
        "US", "en-US", "us-store", "1",
        _split("James|Olivia|Liam|Emma|Noah|Sophia|Ethan|Mia|Mason|Abigail|Zoë|José"),
        _split("Johnson|Garcia|Miller|Davis|Rodriguez|Martinez|Anderson|Jackson|White|Lee"),
        _split("Main Street|Oak Avenue|Maple Drive|Washington Boulevard|Sunset Boulevard|Elm Street"),
        (
            City("New York", "100", "NY", "212"),
            City("San Francisco", "941", "CA", "415"),
            City("Chicago", "606", "IL", "312"),
            City("Boston", "021", "MA", "617"),
            City("Seattle", "981", "WA", "206"),
        ),
        ("gmail.com", "yahoo.com", "icloud.com", "example.com"),
        ("Dr.", "Prof."),
        ("Mr.", "Mrs.", "Ms."),
        (),
        10, 10,
    ),
    "SE": Country(
        "SE", "sv-SE", "eu-store", "46",
        _split("Elsa|William|Alice|Oscar|Maja|Lucas|Astrid|Hugo|Saga|Nils|Åsa|Björn"),
        _split("Andersson|Johansson|Karlsson|Nilsson|Eriksson|Larsson|Olsson|Persson|Lindström"),
        ("Storgatan", "Drottninggatan", "Kungsgatan", "Vasagatan", "Sveavägen", "Götgatan"),
        (
            City("Stockholm", "11", "Stockholms län", "8"),
            City("Göteborg", "41", "Västra Götalands län", "31"),
            City("Malmö", "21", "Skåne län", "40"),
        ),
        ("telia.com", "gmail.com", "bredband.net", "example.se"),
        ("Dr", "Prof"),
        ("Herr", "Fru"),
        ("70", "72", "73", "76", "79"),
        9, 9,
    ),
    "NL": Country(
        "NL", "nl-NL", "eu-store", "31",
        _split("Daan|Emma|Sem|Julia|Lucas|Tess|Levi|Sophie|Finn|Anouk|Bram|Fleur"),
        _split("de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Visser|Smit|Meijer|de Boer"),
        _split("Kerkstraat|Dorpsstraat|Molenweg|Prinsengracht|Keizersgracht|Stationsplein"),
        (
            City("Amsterdam", "10", "Noord-Holland", "20"),
            City("Rotterdam", "30", "Zuid-Holland", "10"),
            City("Utrecht", "35", "Utrecht", "30"),
        ),
        ("ziggo.nl", "kpnmail.nl", "hotmail.nl", "example.nl"),
        ("Dr.", "Prof.", "Ir."),
        ("Dhr.", "Mevr."),
        ("61", "62", "63", "64", "65"),
        9, 9,
    ),
}  # fmt: skip

COUNTRY_WEIGHTS = {"DE": 30, "GB": 20, "FR": 15, "US": 20, "SE": 7, "NL": 8}
_GB_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_US_EXCHANGES = tuple(e for e in range(201, 1000) if e % 100 != 11 and e != 555)


def _digits(rng: random.Random, count: int, first_nonzero: bool = True) -> str:
    """``count`` random digits (the first one 2-9 when ``first_nonzero``: no trunk or service prefix)."""
    if count <= 0:
        return ""
    if first_nonzero:
        return str(rng.randint(2, 9)) + str(rng.randrange(10 ** (count - 1))).zfill(count - 1)
    return str(rng.randrange(10**count)).zfill(count)


_MOBILE_GROUP = {"DE": 3, "GB": 4, "FR": 1, "SE": 2, "NL": 1}


def national_number(country: Country, rng: random.Random, *, mobile: bool, city: City) -> tuple[str, int]:
    """A national significant number in a valid range of the numbering plan, and its area-code length."""
    if country.code == "US":
        exchange = rng.choice(_US_EXCHANGES)
        return f"{city.area_code}{exchange}{_digits(rng, 4, first_nonzero=False)}", 3
    if mobile:
        prefix = rng.choice(country.mobile_prefixes)
        nsn = prefix + _digits(rng, country.mobile_length - len(prefix), first_nonzero=False)
        return nsn, _MOBILE_GROUP[country.code]
    head = city.area_code + city.lead
    return head + _digits(rng, country.landline_length - len(head), first_nonzero=not city.lead), len(
        city.area_code
    )


def format_number(country: Country, nsn: str, style: str, group: int) -> str:
    """Render like people type numbers: ``international`` (+49 151 …), ``e164`` or ``national``."""
    if style == "e164":
        return f"+{country.dial}{nsn}"
    if country.code == "US":
        grouped = f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}"
        return f"+1 {grouped}" if style == "international" else f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}"
    if country.code == "FR":
        grouped = " ".join([nsn[0], *(nsn[i : i + 2] for i in range(1, 9, 2))])
    else:
        grouped = f"{nsn[:group]} {nsn[group:]}"
    return f"+{country.dial} {grouped}" if style == "international" else f"0{grouped}"


def postal_code(country: Country, city: City, rng: random.Random) -> str:
    if country.code == "GB":
        letters = rng.choice(_GB_INWARD_LETTERS) + rng.choice(_GB_INWARD_LETTERS)
        return f"{city.postal_prefix} {rng.randint(1, 9)}{letters}"
    if country.code == "SE":
        return f"{city.postal_prefix}{rng.randint(1, 9)} {rng.randint(10, 99)}"
    if country.code == "NL":
        letters = "".join(rng.choice("ABCEGHJKLMNPRTVWXZ") for _ in range(2))
        return f"{city.postal_prefix}{rng.randint(11, 99)} {letters}"
    width = 5 - len(city.postal_prefix)
    return city.postal_prefix + str(rng.randint(1, 10**width - 1)).zfill(width)
