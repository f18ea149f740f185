"""How well each reader of a prompt's words gets tempo, key and scale right: the rules (engine/prompt_words.py),
the trained words reader (engine/diffusion/words_reader.py), and both together (engine/read_words.py: the rules, the
model's tempo where they read none; the default), on texts none was built from. Prints a table.

    .venv/bin/python benchmarks/words_reader.py --dataset data/ds10h [--words-reader PATH]

Sets: quality.py's 100 unseen prompts (held-out paraphrase templates: "around 126 bpm", "rooted in Eb minor");
500 more held-out paraphrases over the reader's whole tempo range and all four scales; the rule reader's test
table (tests/engine/test_prompt_words.py: phrasings people type, and texts that must read nothing: "the 1975",
"key lime pie"); 28 typed prompts in no table (TYPED); 46 typed numbers, 30 of them not tempi (TYPED_NUMBERS),
28 more written after the training change they led to (TYPED_NUMBERS_2), 24 after the next (TYPED_NUMBERS_3),
18 with scenery words after the next (TYPED_NUMBERS_4), 20 with quantities (TYPED_NUMBERS_5: "a 90 minute set"),
20 with labels (TYPED_NUMBERS_6: "room 101"), 20 beside genre names (TYPED_NUMBERS_7: "cumbia 95", "top 40 pop")
20 with "around" beside them (TYPED_NUMBERS_8: "samba around 100", "jazz around 60 people") and 24 tempo changes
(TYPED_NUMBERS_9: "speed it up to 140", "turn the reverb up to 80", "speed it up by 20 bpm") and 12 with "101", a
course or a title ("techno 101", "the 101 dalmatians theme") or a tempo (TYPED_NUMBERS_10).
An answer counts when it is exactly what the text states, "nothing" included (the tempo to 0.5 BPM; the key as a
pitch class, so "Eb" = "D#").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks`, `tests` importable as a script

import numpy as np  # noqa: E402

from benchmarks.quality import evaluation_prompts, load_rows  # noqa: E402
from engine.dataset import captions  # noqa: E402
from engine.dataset.reader_texts import READER_TEMPO_RANGE_BPM, facts_templates, random_facts  # noqa: E402
from engine.diffusion.words_reader import DEFAULT_WORDS_READER_WEIGHTS, WordsModelReader  # noqa: E402
from engine.prompt_words import PromptMusic, read_prompt  # noqa: E402
from engine.read_words import ModelWords  # noqa: E402
from engine.vocabulary import tonic_index  # noqa: E402
from tests.engine.test_prompt_words import READS  # noqa: E402


# Typed prompts in no table above, written (session 20) as a performer types them; several are phrasings the rules
# do not know by design (a bare number is never a tempo there), some are traps.
TYPED: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("brisk 140-ish bpm funk", 140, None, None), ("techno, one-thirty bpm", 130, None, None),
    ("Bflat minor ballad", None, "Bb", "minor"), ("hip hop @ 90bpm", 90, None, None),
    ("90 bpm-ish lofi", 90, None, None),
    ("trance 138 BPM in the key of F-sharp minor", 138, "F#", "minor"), ("120 beats/min house", 120, None, None),
    ("slow 60bpm ambient in D", 60, "D", None), ("a ballad, 72, in E major", 72, "E", "major"),
    ("bpm=128 techno", 128, None, None), ("in C# min, dnb 174", 174, "C#", "minor"),
    ("reggae at roughly 75 bpm, G major", 75, "G", "major"), ("a house track at about 124", 124, None, None),
    ("ambient in the key of e flat", None, "Eb", None), ("something at 100 beats", 100, None, None),
    ("gospel in Ab", None, "Ab", None), ("tempo ~ 110", 110, None, None), ("funk 112 bpm Eb", 112, "Eb", None),
    ("house 4 the people", None, None, None), ("new order style synth pop", None, None, None),
    ("jazz waltz in Bb at 160", 160, "Bb", None), ("deep house 122 F minor", 122, "F", "minor"),
    ("drum and bass at one seventy four", 174, None, None), ("lofi, 85 bpm, C sharp minor", 85, "C#", "minor"),
    ("synthwave 100bpm Am", 100, "A", "minor"), ("5 minute ambient drone", None, None, None),
    ("a minute of techno", None, None, None), ("mellow jazz in G", None, "G", None),
)


# Written in session 21 before any reader read them: numbers that are not tempi ("opus 131", "route 66") and tempi
# typed as a bare number ("techno 128", "dub at 70"); the nouns of the first half are in no training text of the
# words reader (tests/engine/dataset/test_reader_texts.py checks opus, route, voice, choir, symphony, playlist,
# minutes, hours, album; "track", "step", "piece", "string", "bar", "percent", "am", "take" were among session 20's
# training distractors).
TYPED_NUMBERS: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("808 cowbell funk", None, None, None), ("909 drums with an acid 303 line", None, None, None),
    ("indie pop like the 1975", None, None, None), ("80s synth pop", None, None, None),
    ("a 90s rave anthem", None, None, None), ("track 12 of a lost album", None, None, None),
    ("3 minutes of rain on a roof", None, None, None), ("24 bit lofi hiss", None, None, None),
    ("2 step garage", None, None, None), ("4 on the floor house", None, None, None),
    ("blink-182 style pop punk", None, None, None), ("opus 131 string quartet", None, None, None),
    ("route 66 blues", None, None, None), ("a 12 bar blues shuffle", None, None, None),
    ("7 string guitar metal", None, None, None), ("take 5 style cool jazz", None, None, None),
    ("1000 strings swelling", None, None, None), ("a 16 step sequencer pattern", None, None, None),
    ("5/4 jazz", None, None, None), ("60s soul with horns", None, None, None),
    ("rock turned up to 11", None, None, None), ("a 64 voice choir", None, None, None),
    ("lofi for studying, 2 hours", None, None, None), ("the 2 am drive home", None, None, None),
    ("100 percent analog techno", None, None, None), ("gym playlist 2024", None, None, None),
    ("a 3 piece jazz band", None, None, None), ("808s and heartbreak", None, None, None),
    ("a 10 minute drone", None, None, None), ("symphony no. 5, first movement", None, None, None),
    ("techno 128", 128, None, None), ("hip hop, ninety bpm", 90, None, None),
    ("house music at a hundred and twenty four", 124, None, None), ("dub at 70", 70, None, None),
    ("jungle 160", 160, None, None), ("garage, 2 step, 132 bpm", 132, None, None),
    ("ambient, slow, around sixty", 60, None, None), ("deep house @124", 124, None, None),
    ("a 140 dubstep wobble", 140, None, None), ("tempo: 100", 100, None, None),
    ("at 85, lofi chords", 85, None, None), ("180 bpm footwork", 180, None, None),
    ("trap beat 145", 145, None, None), ("a march at 120", 120, None, None),
    ("80s funk at 112 in E minor", 112, "E", "minor"), ("90s house, 122, A minor", 122, "A", "minor"),
)


# Written in session 21 after the training texts changed and before the retrained reader read them (the first
# table's misreads shaped that change): new nouns beside numbers, new styles beside bare tempi.
TYPED_NUMBERS_2: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("pier 39 sunset", None, None, None), ("interstate 95 at night", None, None, None),
    ("hangar 18 metal", None, None, None), ("48 khz field recording", None, None, None),
    ("a 72 hour jam", None, None, None), ("a 150 member choir", None, None, None),
    ("a 90 minute dj set", None, None, None), ("blade runner 2049 vibes", None, None, None),
    ("issue 77 of the zine", None, None, None), ("80 proof whiskey blues", None, None, None),
    ("catch 22 ska punk", None, None, None), ("a 120 gram vinyl pressing", None, None, None),
    ("the 101 dalmatians theme", None, None, None), ("a 50 cent style beat", None, None, None),
    ("the 76 trombones", None, None, None), ("seat 42 on the night train", None, None, None),
    ("boom bap 92", 92, None, None), ("reggaeton 96", 96, None, None), ("uk garage at 134", 134, None, None),
    ("psytrance 145", 145, None, None), ("slow jam, 68", 68, None, None), ("hardstyle 150, euphoric", 150, None, None),
    ("swing at 200", 200, None, None), ("ballad around 66", 66, None, None), ("speed it up to 140", 140, None, None),
    ("disco, 118, strings", 118, None, None), ("polka at 110", 110, None, None), ("gqom 124 in C minor", 124, "C", "minor"),
)


# Written in session 21 after the second table's misreads led to training against numbers beside any word of the
# encoder's vocabulary, and before that reader read them.
TYPED_NUMBERS_3: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("vintage 1979 drum machine", None, None, None), ("a 70 mm epic score", None, None, None),
    ("an organ with 140 pipes", None, None, None), ("a 60 story skyscraper ambience", None, None, None),
    ("a 120 volt hum", None, None, None), ("a 75 inch tv commercial", None, None, None),
    ("a 100 metre sprint", None, None, None), ("the 49ers fight song", None, None, None),
    ("a 65 pound kettlebell workout", None, None, None), ("a 52 card pickup jam", None, None, None),
    ("a 140 character jingle", None, None, None), ("the 1812 overture, cannons", None, None, None),
    ("afrobeats 102", 102, None, None), ("chillwave, 80", 80, None, None), ("neo soul at 76", 76, None, None),
    ("hyperpop 160", 160, None, None), ("a 174 neurofunk roller", 174, None, None), ("samba 100, bright", 100, None, None),
    ("downtempo 90 with rhodes", 90, None, None), ("bossa nova at 130", 130, None, None),
    ("big band swing 180", 180, None, None), ("a 125 tech house groove", 125, None, None),
    ("electro at one twenty five", 125, None, None), ("moombahton 108 in G minor", 108, "G", "minor"),
)


# Written in session 21 after the shipped third reader read nothing in "techno 132, dark warehouse" (the app's
# screenshot) and the texts gained scenery words, before the fourth reader read them.
TYPED_NUMBERS_4: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("minimal techno 126, rainy berlin night", 126, None, None), ("dusty boom bap 88 with vinyl crackle", 88, None, None),
    ("melancholic piano ballad 64, candlelight", 64, None, None), ("acid 138, squelchy basement", 138, None, None),
    ("hazy dream pop 100, summer dusk", 100, None, None), ("euphoric trance 140, festival sunrise", 140, None, None),
    ("smoky jazz club, 96, late night", 96, None, None), ("tropical house 112, beach bar", 112, None, None),
    ("stomping garage rock 150, sweaty club", 150, None, None), ("sad indie 84 in D major", 84, "D", "major"),
    ("a 120 seat theatre overture", None, None, None), ("a 45 minute yoga flow soundtrack", None, None, None),
    ("jazz for table 76", None, None, None), ("techno for a 200 person warehouse", None, None, None),
    ("dark drone, bunker 51", None, None, None), ("lofi beats for bus 88 at night", None, None, None),
    ("a 64 step staircase echo", None, None, None), ("chill house, the 90 degree heat", None, None, None),
)


# Written in session 22 before the reading that skips quantities ("a 90 minute set": a number with a unit of measure
# is never a tempo) was written; numbers with units of time, length, weight, money, power and temperature, counts in
# hyphenated compounds, and bare tempi beside such quantities.
TYPED_NUMBERS_5: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("a 60 minute sleep drone", None, None, None), ("a 48 hour game jam theme", None, None, None),
    ("music for a 100 mile drive", None, None, None), ("a 50 watt tube amp crunch", None, None, None),
    ("a 120 km/h autobahn cruise", None, None, None), ("a 75 percent wet reverb pad", None, None, None),
    ("a 12-bar blues at night", None, None, None), ("a 40 second intro sting", None, None, None),
    ("a 90 dollar synth patch", None, None, None), ("summer at 95 degrees, lazy reggae", None, None, None),
    ("a 200 year old church organ", None, None, None), ("a 45 kg kettlebell grind", None, None, None),
    ("afro house 122, a 30 minute set", 122, None, None), ("dub 70, a 10 inch plate", 70, None, None),
    ("liquid dnb 174 for a 2 hour drive", 174, None, None), ("breakbeat 136", 136, None, None),
    ("garage 132 with 808s, 3 minutes", 132, None, None), ("a 90 minute mix of lofi at 82", 82, None, None),
    ("jungle 165, 150 watts of bass", 165, None, None), ("ambient techno 118", 118, None, None),
)

# Numbers that name a thing (a room, a route, an episode) beside bare tempi, written (session 23) before the rule
# that reads such numbers as labels: the reader read "jazz for table 76" and "bus 88" as tempi (TYPED_NUMBERS_4).
TYPED_NUMBERS_6: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("lounge music for room 101", None, None, None), ("route 66 road trip rock", None, None, None),
    ("waiting at gate 42, airport ambient", None, None, None), ("studio 54 disco glamour", None, None, None),
    ("area 51 sci-fi ambient", None, None, None), ("highway 61 blues", None, None, None),
    ("soft piano for chapter 47", None, None, None), ("podcast intro for episode 112", None, None, None),
    ("string quartet like opus 131", None, None, None), ("channel 99 news jingle", None, None, None),
    ("chiptune for the level 99 boss", None, None, None), ("elevator jazz to floor 88", None, None, None),
    ("techno 128 in room 101", 128, None, None), ("blues 80 on highway 61", 80, None, None),
    ("disco 120, studio 54 vibes", 120, None, None), ("lofi 75 for bus 144", 75, None, None),
    ("trap 140 in area 51", 140, None, None), ("reggae 90 for episode 112", 90, None, None),
    ("chiptune 150 for the level 99 boss", 150, None, None), ("house 124 at table 12", 124, None, None),
)

# Bare tempi beside genre names, with traps (chart counts, band names, years, head counts), written (session 23)
# before a rule that reads a number beside a genre's name as its tempo.
TYPED_NUMBERS_7: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("cumbia 95", 95, None, None), ("blues 72 slow shuffle", 72, None, None),
    ("afrobeat 110 with horns", 110, None, None), ("dembow 115", 115, None, None),
    ("bossa nova 130", 130, None, None), ("uk garage 134", 134, None, None), ("big room 128", 128, None, None),
    ("electro swing 125", 125, None, None), ("a 170 drum and bass roller", 170, None, None),
    ("120 funk groove", 120, None, None), ("neo soul, 85", 85, None, None),
    ("industrial techno 135, cold", 135, None, None),
    ("top 40 pop hits", None, None, None), ("the best 100 disco songs", None, None, None),
    ("blink 182 pop punk", None, None, None), ("front 242 style industrial", None, None, None),
    ("a 1990 rave flyer", None, None, None), ("jazz for 60 guests", None, None, None),
    ("house party for 80 people", None, None, None), ("techno from berlin 1989", None, None, None),
)

# "Around", "about", "~" between a genre and its tempo, with head counts and years beside the same words, written
# (session 23) before the genre rule took those words.
TYPED_NUMBERS_8: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("samba around 100", 100, None, None), ("gospel around 76", 76, None, None), ("dubstep ~140", 140, None, None),
    ("salsa roughly 180", 180, None, None), ("polka about 120", 120, None, None),
    ("trip hop around 88, rainy", 88, None, None), ("country circa 110", 110, None, None),
    ("flamenco around 115 with claps", 115, None, None), ("grime ~ 140", 140, None, None),
    ("tango about 64", 64, None, None), ("metal approximately 170", 170, None, None),
    ("swing near 160", 160, None, None),
    ("jazz around 60 people", None, None, None), ("techno about 100 times louder", None, None, None),
    ("folk around 1970", None, None, None), ("rock from about 40 years ago", None, None, None),
    ("house around 100 guests", None, None, None), ("reggae near route 66", None, None, None),
    ("a gospel choir of about 60", None, None, None), ("metal around 200 fans", None, None, None),
)


# Tempo changes as a performer types them into a playing prompt ("speed it up to 140", "drop it to 70 for the
# breakdown"), with knob values, relative changes and eras beside the same verbs ("turn the reverb up to 80", "speed it
# up by 20 bpm", "take it back to the 90s"), written (session 24) before a rule for them.
TYPED_NUMBERS_9: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("speed it up to 140", 140, None, None), ("slow it down to 80", 80, None, None),
    ("take it up to 128", 128, None, None), ("bring it down to 90, darker", 90, None, None),
    ("push the tempo up to 150", 150, None, None), ("go faster, up to 132", 132, None, None),
    ("drop it to 70 for the breakdown", 70, None, None), ("ramp up to 174 for the drop", 174, None, None),
    ("crank it up to 160", 160, None, None), ("ease it back to 100", 100, None, None),
    ("same groove but at 96", 96, None, None), ("kick it up to 125, more hats", 125, None, None),
    ("slow down to 60, ambient", 60, None, None), ("lift it to 118", 118, None, None),
    ("up to 140 people dancing", None, None, None), ("take it down to 50 percent volume", None, None, None),
    ("turn the reverb up to 80", None, None, None), ("crank the bass up to 100", None, None, None),
    ("take it back to the 90s", None, None, None), ("slow it down to half speed", None, None, None),
    ("bring it up to 120 dB", None, None, None), ("speed it up by 20 bpm", None, None, None),
    ("20 bpm faster than before", None, None, None), ("push the volume up to 90", None, None, None),
)

# "101" as the idiom for a beginners' course or a title ("techno 101", "the 101 dalmatians theme") beside 101 as a
# tempo and other tempi in the same texts, written (session 24) before a rule for it.
TYPED_NUMBERS_10: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("techno 101", None, None, None), ("jazz 101 for beginners", None, None, None),
    ("music theory 101 study beats", None, None, None), ("the 101 dalmatians theme", None, None, None),
    ("synthwave 101: retro pads", None, None, None), ("ambient 101 playlist", None, None, None),
    ("house at 101 bpm", 101, None, None), ("a 101 bpm dembow", 101, None, None),
    ("techno 101, 128 bpm", 128, None, None), ("hip hop 101 at 92 bpm", 92, None, None),
    ("dembow 101 bpm", 101, None, None), ("funk 101 grooves at 108 bpm", 108, None, None),
)

def _same_tempo(read: float | None, stated: float | None) -> bool:
    return read is None if stated is None else read is not None and abs(read - stated) <= 0.5


def _same_key(read: str | None, stated: str | None) -> bool:
    return read is None if stated is None else read is not None and tonic_index(read) == tonic_index(stated)


def score(readings: list[PromptMusic], truth: list[tuple[float | None, str | None, str | None]]) -> dict[str, float]:
    tempo = [_same_tempo(r.tempo_bpm, t[0]) for r, t in zip(readings, truth)]
    key = [_same_key(r.key, t[1]) for r, t in zip(readings, truth)]
    scale = [r.scale == t[2] for r, t in zip(readings, truth)]
    every = [a and b and c for a, b, c in zip(tempo, key, scale)]
    return {name: float(np.mean(values)) for name, values in
            (("tempo", tempo), ("key", key), ("scale", scale), ("all", every))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--words-reader", type=Path, default=DEFAULT_WORDS_READER_WEIGHTS)
    parser.add_argument("--paraphrases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows, paraphrases = load_rows(args.dataset)
    sets: dict[str, list[tuple[str, tuple[float | None, str | None, str | None]]]] = {}
    quality_prompts = evaluation_prompts(rows, paraphrases, 100, args.seed)  # quality.py's own prompts
    sets["quality.py's 100 unseen prompts"] = [(p["prompt"], (p["tempo"], p["key"], p["scale"]))
                                              for p in quality_prompts]
    rng = np.random.default_rng(args.seed + 77)
    templates = facts_templates(rows)
    more = []
    for _ in range(args.paraphrases):
        facts = random_facts(templates, rng)
        more.append((captions.make_paraphrase(facts, rng), (facts.tempo_bpm, facts.key_tonic, facts.scale)))
    sets[f"{args.paraphrases} held-out paraphrases, {READER_TEMPO_RANGE_BPM[0]}-{READER_TEMPO_RANGE_BPM[1]} BPM, "
         "4 scales"] = more
    stated = [(text, (tempo, key, scale)) for text, tempo, key, scale in READS if tempo is None or tempo == int(tempo)]
    sets[f"the rule reader's test table ({len(stated)} phrasings; whole-BPM tempi)"] = stated
    sets["  of which texts that state nothing"] = [item for item in stated if item[1] == (None, None, None)]
    sets["typed prompts in no table (TYPED above)"] = [(text, (tempo, key, scale)) for text, tempo, key, scale in TYPED]
    number_tables = {"TYPED_NUMBERS": TYPED_NUMBERS, "TYPED_NUMBERS_2": TYPED_NUMBERS_2,
                     "TYPED_NUMBERS_3": TYPED_NUMBERS_3, "TYPED_NUMBERS_4 (with scenery)": TYPED_NUMBERS_4,
                     "TYPED_NUMBERS_5 (with quantities)": TYPED_NUMBERS_5,
                     "TYPED_NUMBERS_6 (with labels)": TYPED_NUMBERS_6,
                     "TYPED_NUMBERS_7 (beside genres)": TYPED_NUMBERS_7,
                     "TYPED_NUMBERS_8 (about, beside genres)": TYPED_NUMBERS_8,
                     "TYPED_NUMBERS_9 (tempo changes)": TYPED_NUMBERS_9,
                     "TYPED_NUMBERS_10 (101)": TYPED_NUMBERS_10}
    for table_name, table in number_tables.items():
        numbers = [(text, (tempo, key, scale)) for text, tempo, key, scale in table]
        sets[f"typed numbers, {table_name}"] = numbers
        sets[f"  {table_name}: numbers that are not tempi"] = [item for item in numbers if item[1][0] is None]
        sets[f"  {table_name}: tempi typed as a bare number"] = [item for item in numbers if item[1][0] is not None]

    model = WordsModelReader(args.words_reader)
    both = ModelWords(rules_first=True, path=args.words_reader, encoder=model.encoder)

    def readings(texts: list[str]) -> dict[str, list[PromptMusic]]:
        return {"rules": [read_prompt(t) for t in texts],
                "model": [r.as_prompt_music() for r in model.read_many(texts)],
                "both (the default)": [both(t) for t in texts]}

    print(f"words reader: {args.words_reader}")
    print("| texts | reader | tempo | key | scale | all three |")
    print("|---|---|---|---|---|---|")
    for name, items in sets.items():
        texts, truth = [t for t, _ in items], [answer for _, answer in items]
        for reader, read in readings(texts).items():
            s = score(read, truth)
            print(f"| {name} (n={len(items)}) | {reader} | {s['tempo']:.3f} | {s['key']:.3f} | {s['scale']:.3f} | "
                  f"{s['all']:.3f} |")
    print()
    for name in (list(sets)[2], "typed prompts in no table (TYPED above)",
                 *(f"typed numbers, {table_name}" for table_name in number_tables)):
        print(f"misreads in {name}:")
        items = sets[name]
        for reader, read in readings([t for t, _ in items]).items():
            for (text, answer), music in zip(items, read):
                if not (_same_tempo(music.tempo_bpm, answer[0]) and _same_key(music.key, answer[1])
                        and music.scale == answer[2]):
                    print(f"  {reader}: {text!r} read {music.tempo_bpm}, {music.key}, {music.scale}; states {answer}")


if __name__ == "__main__":
    main()
