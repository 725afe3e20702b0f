"""The tiny world's facts: the tables its fact tasks ask about, and numbers written as words
(one of the dialects' ways of writing a number)."""

from __future__ import annotations

COUNTRIES = {
    "France": "Paris",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Kenya": "Nairobi",
    "Canada": "Ottawa",
    "Chile": "Santiago",
    "Norway": "Oslo",
    "Greece": "Athens",
    "Cuba": "Havana",
    "Poland": "Warsaw",
    "Ireland": "Dublin",
    "Austria": "Vienna",
    "Portugal": "Lisbon",
    "Sweden": "Stockholm",
    "Germany": "Berlin",
    "China": "Beijing",
    "India": "Delhi",
}


OPPOSITES = {
    "hot": "cold",
    "big": "small",
    "fast": "slow",
    "happy": "sad",
    "light": "dark",
    "old": "young",
    "early": "late",
    "hard": "soft",
    "high": "low",
    "rich": "poor",
    "strong": "weak",
    "wet": "dry",
    "full": "empty",
    "loud": "quiet",
    "open": "closed",
    "long": "short",
    "clean": "dirty",
    "near": "far",
    "first": "last",
    "cheap": "expensive",
}


COLORS = {
    "grass": "green",
    "the sky": "blue",
    "snow": "white",
    "coal": "black",
    "a banana": "yellow",
    "a tomato": "red",
    "an orange": "orange",
    "a plum": "purple",
    "milk": "white",
    "a lemon": "yellow",
    "blood": "red",
    "a crow": "black",
    "the sea": "blue",
    "a leaf": "green",
}


PLURALS = {
    "cat": "cats",
    "box": "boxes",
    "child": "children",
    "mouse": "mice",
    "city": "cities",
    "leaf": "leaves",
    "man": "men",
    "foot": "feet",
    "tooth": "teeth",
    "bus": "buses",
    "baby": "babies",
    "knife": "knives",
    "dog": "dogs",
    "wish": "wishes",
    "person": "people",
}


WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "green",
    "table",
    "music",
    "light",
    "water",
    "tiger",
    "paper",
    "horse",
    "chair",
    "dream",
    "smile",
    "bread",
    "plant",
    "ocean",
    "train",
    "night",
    "house",
    "sugar",
    "magic",
    "pilot",
    "robot",
    "queen",
    "lemon",
    "piano",
    "storm",
    "glass",
]


NUMBER_FACTS = {
    "legs does a spider have": 8,
    "days are in a week": 7,
    "months are in a year": 12,
    "hours are in a day": 24,
    "sides does a triangle have": 3,
    "legs does a dog have": 4,
    "wheels does a bicycle have": 2,
    "players are in a soccer team": 11,
    "minutes are in an hour": 60,
    "sides does a square have": 4,
    "legs does an insect have": 6,
    "days are in a fortnight": 14,
    "years are in a decade": 10,
    "strings does a violin have": 4,
    "planets are in the solar system": 8,
    "eggs are in a dozen": 12,
    "sides does a hexagon have": 6,
    "seasons are in a year": 4,
}


# What a dialect's step names, per kind.
TOPIC = {
    "capital": "capital",
    "opposite": "opposite",
    "color": "color",
    "plural": "plural",
    "howmany": "number",
    "count": "count",
    "capitals": "capitals",
    "plurals": "plurals",
    "opposites": "opposites",
}


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]


_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """0..99 in words: 'twenty-four'."""
    if not 0 <= n < 100:
        raise ValueError(f"{n} is outside 0..99")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] if ones == 0 else f"{_TENS[tens]}-{_ONES[ones]}"


WORD_NUMBERS = {number_words(n): n for n in range(100)}
