"""Generate the corpus of 10,000 assistant utterances labelled by intent.

This stands in for data collection: it was run once and its output, `data/utterances.csv`, is
the committed input of the analysis. It is not a step of the analysis. Re-running it with the
same seed writes the same bytes (Python's `random.Random` with an integer seed is reproducible
across platforms), which `tests/test_example.py` checks.

The corpus mimics what a voice assistant's log looks like after annotation: many paraphrases per
intent, slot values (times, durations, places, songs), typing noise (swapped, dropped, doubled
or mistyped characters), inconsistent casing and punctuation, filler words, a share of genuinely
ambiguous requests ("Ping me at 7 am": alarm or reminder?) and a little annotator error.

Usage, from the analysis root:

    python data/make_utterances.py [--output data/utterances.csv]
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from collections.abc import Callable
from pathlib import Path

SEED = 20160412
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "utterances.csv"

# Utterances per intent, as unbalanced as an assistant's log; they add up to 10,000.
INTENT_COUNTS: dict[str, int] = {
    "get_time": 1500,
    "get_date": 450,
    "set_alarm": 2300,
    "set_reminder": 1800,
    "set_timer": 1100,
    "get_weather": 1500,
    "play_music": 1000,
    "small_talk": 350,
}
N_UTTERANCES = sum(INTENT_COUNTS.values())  # 10,000

# Share of utterances drawn from templates that two intents share (genuinely ambiguous).
AMBIGUOUS_RATE = 0.06
# Share of utterances whose label an annotator got wrong.
LABEL_ERROR_RATE = 0.01
TYPO_RATE = 0.30
PREFIX_RATE = 0.25
SUFFIX_RATE = 0.10

TEMPLATES: dict[str, list[str]] = {
    "get_time": [
        "What time is it?",
        "Can you tell me the time?",
        "What's the time?",
        "What time is it right now?",
        "Do you know what time it is?",
        "Tell me the time.",
        "What's the current time?",
        "Time please.",
        "What time is it in {city}?",
        "What's the time in {city} right now?",
        "How late is it?",
        "Is it {time} already?",
        "Could you check the time for me?",
        "What does the clock say?",
        "Got the time?",
        "What hour is it?",
        "Current time in {city}.",
        "Is it past {time} yet?",
        "What time is it over in {city}?",
        "Give me the exact time.",
        "How much time until {time}?",
        "Is it still before {time}?",
        "What's the local time in {city}?",
        "Sorry, what time is it?",
        "Check the clock for me.",
        "Say the time out loud.",
        "What time do the shops close in {city}?",
        "What time is it where {artist} lives?",
        "Is it too late to call {city} right now?",
    ],
    "get_date": [
        "What's the date today?",
        "What day is it?",
        "What is today's date?",
        "Which day of the week is it?",
        "What's the date tomorrow?",
        "What date is {weekday}?",
        "Is today {weekday}?",
        "How many days until {holiday}?",
        "What day is {holiday} this year?",
        "Tell me the date.",
        "What month is it?",
        "What's the date next {weekday}?",
        "What day of the month is it?",
        "Which date is it today?",
        "Is it the {ordinal} today?",
        "What was the date yesterday?",
        "What's the date on {weekday}?",
        "How many days are left in the month?",
        "What year is it?",
        "Tell me today's date please.",
        "What day does {holiday} fall on?",
        "Is {holiday} on a weekend this year?",
        "What date is it in {city}?",
        "What day is it in {city} right now?",
        "What's the date of the {artist} concert?",
    ],
    "set_alarm": [
        "Set an alarm for {time}.",
        "Wake me up at {time}.",
        "Can you set an alarm at {time}?",
        "Alarm for {time} {day}.",
        "I need to wake up at {time}.",
        "Please set my alarm to {time}.",
        "Set an alarm for {time} {day}.",
        "Wake me at {time} {day}.",
        "Make an alarm for {time}.",
        "Create an alarm at {time} called {label}.",
        "Set a {time} alarm.",
        "Get me up at {time} {day}.",
        "I want an alarm at {time} every {weekday}.",
        "New alarm {time}.",
        "Turn on my {time} alarm.",
        "Set an alarm on {weekday} at {time}.",
        "Could you wake me up at {time} {day}?",
        "Change my alarm to {time}.",
        "Move my {time} alarm to {time2}.",
        "Add an alarm for {time} on weekdays.",
        "I have to be up by {time}, set an alarm.",
        "Alarm at {time} please.",
        "Set my wake up alarm for {time}.",
        "Can you wake me {day} at {time}?",
        "Wake me up with {song} at {time}.",
        "Set an alarm with some {genre} music for {time}.",
        "Wake me up at {time} if it snows.",
        "Set an alarm for {time}, I have a flight to {city}.",
        "Wake me up {day} in time to check the weather.",
    ],
    "set_reminder": [
        "Remind me at {time} to {task}.",
        "Can you remind me at {time}?",
        "Remind me to {task}.",
        "Remind me to {task} {day}.",
        "Set a reminder for {time} to {task}.",
        "Don't let me forget to {task}.",
        "Add a reminder: {task} at {time}.",
        "Please remind me to {task} at {time} {day}.",
        "I need a reminder to {task}.",
        "Create a reminder for {day} to {task}.",
        "Can you remind me {day} at {time} to {task}?",
        "Remind me in {duration} to {task}.",
        "Make sure I remember to {task}.",
        "Set a reminder: {task}.",
        "Remind me on {weekday} to {task}.",
        "Can you remind me to {task} when I get home?",
        "Remember that I have to {task} {day}.",
        "New reminder, {task}, {day} at {time}.",
        "Put a reminder in for {time}: {task}.",
        "Remind me about {task} at {time}.",
        "Could you remind me at {time} {day}?",
        "I keep forgetting to {task}, remind me at {time}.",
        "Remind me to check the weather {day}.",
        "Remind me to bring an umbrella {day}.",
        "Remind me to buy tickets for {artist} at {time}.",
        "Remind me {day} to listen to the new {artist} album.",
        "Remind me to set my alarm before bed.",
        "Remind me in {duration} to play {song} for my mom.",
        "Remind me what time it is in {city} at {time}.",
    ],
    "set_timer": [
        "Set a timer for {duration}.",
        "Start a {duration} timer.",
        "Timer for {duration}.",
        "Count down {duration}.",
        "Can you time {duration} for the {food}?",
        "Start a countdown of {duration}.",
        "Set a {duration} timer for the {food}.",
        "Time {duration} please.",
        "Put a timer on for {duration}.",
        "How much time is left on my timer?",
        "Set the kitchen timer to {duration}.",
        "Timer, {duration}.",
        "Start a timer for the {food}, {duration}.",
        "Can you set a timer for {duration}?",
        "Pause the timer.",
        "Cancel my {food} timer.",
        "Add {duration} to the timer.",
        "I need a {duration} countdown.",
        "Begin a {duration} timer for my workout.",
        "Set two timers, one for {duration} and one for {duration2}.",
        "Set a timer for {duration} and play {song} when it ends.",
        "Timer for {duration}, I'm doing a {genre} dance workout.",
        "Set a timer for {duration}, it's raining and the laundry is out.",
    ],
    "get_weather": [
        "What's the weather like?",
        "What's the weather in {city}?",
        "Is it going to rain {day}?",
        "Will it be sunny in {city} {day}?",
        "How hot is it outside?",
        "Do I need an umbrella {day}?",
        "What's the forecast for {day}?",
        "Weather forecast for {city}.",
        "How cold will it be {day}?",
        "Is it snowing in {city}?",
        "What's the temperature outside?",
        "Should I wear a jacket {day}?",
        "Will it be windy {day}?",
        "Tell me the weather for {city} {day}.",
        "What will the temperature be at {time}?",
        "Is there a storm coming?",
        "How humid is it in {city}?",
        "Any chance of rain in {city} {day}?",
        "What's the weather going to be like on {weekday}?",
        "Is it warm enough for shorts {day}?",
        "Weather please.",
        "Will it freeze {day}?",
        "How's the weather looking for {weekday} in {city}?",
        "What will the weather be like at {time} {day}?",
        "Will it rain during my {time} run?",
        "What's the weather for the {artist} concert {day}?",
        "Will it still be raining in {duration}?",
        "Is it going to be sunny when my alarm goes off?",
    ],
    "play_music": [
        "Play {song}.",
        "Play {song} by {artist}.",
        "Put on some {genre}.",
        "Play some {genre} music.",
        "I want to listen to {artist}.",
        "Can you play {artist}?",
        "Shuffle my {playlist} playlist.",
        "Play my {playlist} playlist.",
        "Play something {mood}.",
        "Put on {song}.",
        "Start the {playlist} playlist.",
        "Turn on some music.",
        "Play the next song.",
        "Skip this song.",
        "Play {genre} from the {decade}.",
        "Music please.",
        "Play the latest album by {artist}.",
        "Can you put on {song} by {artist}?",
        "Turn the music up.",
        "I'd like to hear some {genre}.",
        "Play songs like {song}.",
        "Queue up {song} next.",
        "Play music for {duration}.",
        "Play {genre} until {time}.",
        "Play some music to wake me up.",
        "Play rain sounds.",
        "Play something for a sunny day.",
    ],
    "small_talk": [
        "Hello.",
        "Hi there.",
        "Good morning.",
        "How are you?",
        "Thank you.",
        "Thanks a lot.",
        "Who are you?",
        "What's your name?",
        "Tell me a joke.",
        "Good night.",
        "What can you do?",
        "Are you a robot?",
        "Nice to meet you.",
        "Hey, how's it going?",
        "You're funny.",
        "Bye.",
        "See you later.",
        "Do you like me?",
        "How old are you?",
        "What's up?",
        "Never mind.",
        "Good job.",
        "Do you like {artist}?",
        "What's your favourite song?",
        "Do you like the rain?",
        "What time do you go to sleep?",
        "Do you ever set alarms for yourself?",
        "What's the weather like where you live?",
    ],
}

# Templates two intents share: annotators labelled them one way or the other, so no model can
# get them all right. Each group lists the intents that share its templates.
AMBIGUOUS_GROUPS: list[tuple[tuple[str, ...], list[str]]] = [
    (
        ("set_alarm", "set_reminder"),
        [
            "{time} {day} please.",
            "Set something for {time}.",
            "Ping me at {time}.",
            "Alert me at {time} {day}.",
            "Nudge me at {time}.",
            "Don't let me sleep past {time}.",
            "Can you get me at {time} {day}?",
            "Make it {time}.",
        ],
    ),
    (
        ("set_alarm", "set_timer"),
        [
            "Wake me up in {duration}.",
            "Buzz me in {duration}.",
            "Ring in {duration}.",
            "Beep in {duration}.",
        ],
    ),
    (
        ("set_reminder", "set_timer"),
        [
            "Let me know in {duration}.",
            "Tell me when {duration} have passed.",
            "Give me a shout in {duration}.",
        ],
    ),
    (
        ("get_time", "get_date"),
        [
            "What's today?",
            "What is it today?",
            "Time and date please.",
            "What day and time is it?",
            "Is it {weekday} already?",
        ],
    ),
    (
        ("get_weather", "small_talk"),
        [
            "How's it out there?",
            "Nice day, isn't it?",
            "Is it nice out?",
            "Lovely weather.",
        ],
    ),
    (
        ("play_music", "small_talk"),
        [
            "I'm bored.",
            "Cheer me up.",
            "Sing me something.",
            "Entertain me.",
            "I'm in the mood for something {mood}.",
        ],
    ),
]

CITIES = [
    "London", "Paris", "New York", "Tokyo", "Berlin", "Madrid", "Rome", "Chicago", "Toronto",
    "Sydney", "Mumbai", "Cairo", "Seattle", "Boston", "Lisbon", "Dublin", "Oslo", "Vienna",
    "Prague", "Austin", "Denver", "Nairobi", "Lagos", "Lima", "Bogota", "Seoul", "Bangkok",
    "Manila", "Istanbul", "Athens", "Zurich", "Montreal", "Vancouver", "San Francisco",
    "Los Angeles", "Mexico City", "Buenos Aires", "Cape Town", "Helsinki", "Warsaw",
]  # fmt: skip
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
HOLIDAYS = [
    "Christmas", "New Year's Eve", "Halloween", "Thanksgiving", "Easter", "Valentine's Day",
    "my birthday", "Mother's Day", "Independence Day", "the summer holidays",
]  # fmt: skip
ORDINALS = ["1st", "2nd", "3rd", "5th", "10th", "12th", "15th", "21st", "28th", "30th"]
TASKS = [
    "call mom", "take my medicine", "buy milk", "submit the report", "water the plants",
    "feed the cat", "pay the rent", "book a dentist appointment", "pick up the kids",
    "send the invoice", "take out the trash", "call the bank", "renew my passport",
    "email Sarah", "check the oven", "charge my phone", "go to the gym", "walk the dog",
    "buy a birthday present", "back up my laptop", "return the library books", "call grandpa",
    "prepare the slides", "order groceries", "stretch", "drink some water", "lock the door",
    "move the car", "cancel the subscription", "pick up the dry cleaning",
]  # fmt: skip
ALARM_LABELS = ["work", "gym", "school run", "flight", "meds", "meeting", "yoga", "wake up"]
FOODS = [
    "pasta", "eggs", "rice", "pizza", "tea", "cookies", "bread", "potatoes", "steak",
    "laundry", "cake", "noodles",
]  # fmt: skip
SONGS = [
    "Bohemian Rhapsody", "Yesterday", "Hey Jude", "Imagine", "Hotel California",
    "Billie Jean", "Smells Like Teen Spirit", "Wonderwall", "Let It Be", "Purple Rain",
    "Like a Rolling Stone", "Hallelujah", "Respect", "Dancing Queen", "Take On Me",
    "Clair de Lune", "Blue in Green", "Africa", "Superstition", "Jolene",
]  # fmt: skip
ARTISTS = [
    "the Beatles", "Queen", "Miles Davis", "Aretha Franklin", "Adele", "Nina Simone",
    "Radiohead", "Bach", "Beyonce", "Bob Dylan", "Daft Punk", "Taylor Swift", "ABBA",
    "Stevie Wonder", "Dolly Parton", "Coldplay",
]  # fmt: skip
GENRES = [
    "jazz", "rock", "classical", "hip hop", "lo-fi", "country", "blues", "reggae", "techno",
    "folk", "salsa", "pop", "metal", "soul",
]  # fmt: skip
PLAYLISTS = ["workout", "chill", "road trip", "focus", "party", "sleep", "morning", "dinner"]
MOODS = ["relaxing", "upbeat", "sad", "happy", "calm", "energetic", "romantic", "mellow"]
DECADES = ["sixties", "seventies", "eighties", "nineties", "2000s"]
DAYS = [
    "", "", "", "tomorrow", "today", "tonight", "this evening", "tomorrow morning",
    "on {weekday}", "this {weekday}", "next {weekday}", "this weekend",
]  # fmt: skip
NUMBER_WORDS = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty", "forty five",
]  # fmt: skip

PREFIXES = [
    "hey", "hey assistant", "ok so", "um", "uh", "please", "hi", "excuse me", "so",
    "quick question", "hmm", "yo",
]  # fmt: skip
SUFFIXES = ["please", "thanks", "thank you", "now", "asap", "ok"]

# Neighbouring keys on a QWERTY keyboard, for realistic substitution typos.
KEYBOARD_NEIGHBOURS: dict[str, str] = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip


def random_clock_time(rng: random.Random) -> str:
    """Return a time of day written the many ways people type it ("8:00PM", "7:30 am", "noon")."""
    hour = rng.randint(1, 12)
    minute = rng.choice([0, 0, 0, 15, 30, 30, 45, 5, 10, 20, 40, 50])
    meridiem = rng.choice(["am", "pm"])
    style = rng.randrange(10)
    if style == 0:
        return f"{hour}:{minute:02d}{meridiem.upper()}"
    if style == 1:
        return f"{hour}:{minute:02d} {meridiem}"
    if style == 2:
        return f"{hour} {meridiem}"
    if style == 3:
        return f"{hour}{meridiem}"
    if style == 4:
        return f"{hour + 12 if meridiem == 'pm' else hour}:{minute:02d}"
    if style == 5:
        return f"{hour} o'clock"
    if style == 6:
        return rng.choice(["half past ", "quarter past ", "quarter to "]) + NUMBER_WORDS[hour - 1]
    if style == 7:
        return rng.choice(["noon", "midnight", "midday"])
    if style == 8:
        return f"{hour}.{minute:02d}"
    return f"{hour}:{minute:02d} {meridiem.upper()}"


def random_duration(rng: random.Random) -> str:
    """Return a duration such as "10 minutes", "an hour" or "1 hour and 15 minutes"."""
    style = rng.randrange(8)
    if style == 0:
        return f"{rng.choice([1, 2, 3, 4, 5, 8, 10, 12, 15, 20, 25, 30, 45, 90])} minutes"
    if style == 1:
        return f"{rng.choice(NUMBER_WORDS[1:])} minutes"
    if style == 2:
        return f"{rng.choice([10, 20, 30, 45, 60, 90])} seconds"
    if style == 3:
        return rng.choice(["an hour", "half an hour", "a minute", "a quarter of an hour"])
    if style == 4:
        return f"{rng.choice([2, 3, 4, 6])} hours"
    if style == 5:
        return f"1 hour and {rng.choice([5, 10, 15, 20, 30, 45])} minutes"
    if style == 6:
        return f"{rng.choice([3, 5, 7, 10, 15, 25])} mins"
    return f"{rng.choice([2, 5, 10, 20])} min"


def slot_fillers(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Return, for each slot name used in the templates, a function drawing one value."""

    def day() -> str:
        return rng.choice(DAYS).replace("{weekday}", rng.choice(WEEKDAYS))

    return {
        "time": lambda: random_clock_time(rng),
        "time2": lambda: random_clock_time(rng),
        "duration": lambda: random_duration(rng),
        "duration2": lambda: random_duration(rng),
        "day": day,
        "city": lambda: rng.choice(CITIES),
        "weekday": lambda: rng.choice(WEEKDAYS),
        "holiday": lambda: rng.choice(HOLIDAYS),
        "ordinal": lambda: rng.choice(ORDINALS),
        "task": lambda: rng.choice(TASKS),
        "label": lambda: rng.choice(ALARM_LABELS),
        "food": lambda: rng.choice(FOODS),
        "song": lambda: rng.choice(SONGS),
        "artist": lambda: rng.choice(ARTISTS),
        "genre": lambda: rng.choice(GENRES),
        "playlist": lambda: rng.choice(PLAYLISTS),
        "mood": lambda: rng.choice(MOODS),
        "decade": lambda: rng.choice(DECADES),
    }


SLOT_PATTERN = re.compile(r"\{(\w+)\}")


def fill_template(template: str, fillers: dict[str, Callable[[], str]]) -> str:
    """Replace every `{slot}` of a template by a freshly drawn value; tidy the spaces left over.

    Raises KeyError if the template names a slot that has no filler.
    """
    text = SLOT_PATTERN.sub(lambda match: fillers[match.group(1)](), template)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s+([?.,:])", r"\1", text)


def add_typo(text: str, rng: random.Random) -> str:
    """Return `text` with one keyboard slip: two letters swapped, one dropped, doubled or missed."""
    positions = [i for i, char in enumerate(text) if char.isalpha()]
    if len(positions) < 4:
        return text
    i = rng.choice(positions)
    kind = rng.randrange(4)
    if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    neighbours = KEYBOARD_NEIGHBOURS.get(text[i].lower())
    if neighbours is None:
        return text
    return text[:i] + rng.choice(neighbours) + text[i + 1 :]


def add_noise(text: str, rng: random.Random) -> str:
    """Make a clean template sentence look typed: fillers, casing, punctuation and typos."""
    if rng.random() < PREFIX_RATE:
        text = rng.choice(PREFIXES) + rng.choice([" ", ", "]) + text[0].lower() + text[1:]
    if rng.random() < SUFFIX_RATE:
        ending = text[-1] if text[-1] in "?.!" else ""
        text = text.rstrip("?.!") + rng.choice([" ", ", "]) + rng.choice(SUFFIXES) + ending
    if rng.random() < 0.45:
        text = text.rstrip("?.!")
    if rng.random() < 0.12:
        text = text.replace("'", "")
    casing = rng.random()
    if casing < 0.45:
        text = text.lower()
    elif casing < 0.50:
        text = text.upper()
    else:
        text = text[0].upper() + text[1:]
    if rng.random() < TYPO_RATE:
        text = add_typo(text, rng)
        if rng.random() < 0.3:
            text = add_typo(text, rng)
    return text


def generate(seed: int = SEED) -> list[tuple[int, str, str]]:
    """Return the corpus as (id, text, intent) rows, in collection order, ids from 1."""
    rng = random.Random(seed)
    fillers = slot_fillers(rng)
    intents = sorted(INTENT_COUNTS)
    ambiguous_by_intent = {
        intent: [group for group in AMBIGUOUS_GROUPS if intent in group[0]] for intent in intents
    }

    labels = [intent for intent in intents for _ in range(INTENT_COUNTS[intent])]
    rng.shuffle(labels)

    rows: list[tuple[int, str, str]] = []
    for index, intent in enumerate(labels, start=1):
        groups = ambiguous_by_intent[intent]
        if groups and rng.random() < AMBIGUOUS_RATE:
            template = rng.choice(rng.choice(groups)[1])
        else:
            template = rng.choice(TEMPLATES[intent])
        text = add_noise(fill_template(template, fillers), rng)
        if rng.random() < LABEL_ERROR_RATE:
            intent = rng.choice([other for other in intents if other != intent])
        rows.append((index, text, intent))
    return rows


def write_csv(rows: list[tuple[int, str, str]], path: Path) -> None:
    """Write the rows as UTF-8 CSV with LF line endings and an `id,text,intent` header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "intent"])
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    """Generate the corpus and write it to `--output`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="CSV file to write (default: data/utterances.csv next to this script)",
    )
    args = parser.parse_args(argv)
    rows = generate()
    write_csv(rows, args.output)
    print(f"wrote {len(rows)} utterances over {len(INTENT_COUNTS)} intents to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
