"""Prompts that state their tempo in words, rendered as `cascade render PROMPT` reads them and as a second reader
does; essentia's tempo of each 12 s render (shipped model, 16 steps). Prints a table.

    .venv/bin/python benchmarks/prompt_words_tempo.py                 # stated tempi: the reader on vs --read-words off
    .venv/bin/python benchmarks/prompt_words_tempo.py --set bare      # bare-number tempi ("boom bap 92"): both vs rules
    .venv/bin/python benchmarks/prompt_words_tempo.py --set changes   # "speed it up to 140": the words on vs off

--set stated: six prompts whose tempo the rules read ("at 126 bpm", "a hundred and seventy BPM"), the words on
(the default reader) against off (the model reads the text alone). --set bare: the tempi typed as a bare number in
benchmarks/words_reader.py's third and fourth number tables (written before the shipped reader read them), read by
`both` (the default: the rules, and the trained words reader's tempo where they read none) against the rules alone.
--set changes: the tempo changes of the ninth number table ("speed it up to 140", "drop it to 70 for the
breakdown"; written before the rule that reads them), the words on (the default) against off.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.words_reader import TYPED_NUMBERS_3, TYPED_NUMBERS_4, TYPED_NUMBERS_9  # noqa: E402
from engine.dataset.validate import estimate_audio, tempo_relation  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.prompt_words import settle  # noqa: E402
from engine.read_words import DEFAULT_READ_WORDS, prompt_reader  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

STATED = ["deep house groove at 126 bpm in Eb minor", "slow lofi hip hop, around 72 beats per minute, in F major",
          "drum and bass at a hundred and seventy BPM", "funky disco, tempo 112, key of A minor",
          "ambient techno pulse, about 95 to the minute", "rock shuffle at 140 bpm in E minor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("stated", "bare", "changes"), default="stated")
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator = Generator.load(traced=True)
    if args.set == "stated":
        prompts = [(p, None) for p in STATED]
        readers = {"reader on": prompt_reader(DEFAULT_READ_WORDS), "reader off": prompt_reader("off")}
    elif args.set == "bare":
        prompts = [(text, float(tempo)) for text, tempo, _, _ in TYPED_NUMBERS_3 + TYPED_NUMBERS_4 if tempo is not None]
        readers = {"both (default)": prompt_reader("both"), "rules alone": prompt_reader("rules")}
    else:
        prompts = [(text, float(tempo)) for text, tempo, _, _ in TYPED_NUMBERS_9 if tempo is not None]
        readers = {"both (default)": prompt_reader("both"), "words off": prompt_reader("off")}
    names = list(readers)
    print(f"shipped diffusion model ({generator.model_id}), 16 steps, {args.seconds:g} s renders, seed = row")
    print(f"| prompt | stated BPM | {names[0]}: tempo set | essentia BPM | relation | {names[1]}: tempo set | "
          "essentia BPM | relation |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (prompt, stated) in enumerate(prompts):
        musics = {name: settle((reader(prompt),), (1.0,)) for name, reader in readers.items()}
        stated = stated if stated is not None else musics[names[0]].tempo_bpm  # the stated set: what the rules read
        row = [prompt, f"{stated:g}"]
        for music in musics.values():
            request = GenerationRequest(prompts=(prompt,), steps=16, seed=i, tempo_bpm=music.tempo_bpm, key=music.key,
                                        scale=music.scale)
            estimate = estimate_audio(generator.render(request, args.seconds))
            row += ["-" if music.tempo_bpm is None else f"{music.tempo_bpm:g}", f"{estimate['estimated_bpm']:.1f}",
                    tempo_relation(stated, estimate["estimated_bpm"])]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
