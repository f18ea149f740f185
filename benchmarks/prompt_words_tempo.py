"""Prompts that state their tempo in words, rendered as `cascade render PROMPT` takes them (the reader on: the
words become the tempo/key/scale controls) and with `--no-prompt-words` (the model reads the text alone);
essentia's tempo of each 12 s render (shipped model, 16 steps). Prints a table.

    .venv/bin/python benchmarks/prompt_words_tempo.py
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.dataset.validate import estimate_audio, tempo_relation  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.prompt_words import read_prompt, settle  # noqa: E402
from engine.request import GenerationRequest  # noqa: E402

torch.set_num_threads(2)
g = Generator.load(traced=True)
prompts = ["deep house groove at 126 bpm in Eb minor", "slow lofi hip hop, around 72 beats per minute, in F major",
           "drum and bass at a hundred and seventy BPM", "funky disco, tempo 112, key of A minor",
           "ambient techno pulse, about 95 to the minute", "rock shuffle at 140 bpm in E minor"]
print("| prompt | reader on: tempo set | essentia BPM | relation | reader off: essentia BPM | relation |")
print("|---|---|---|---|---|---|")
for i, p in enumerate(prompts):
    m = settle((read_prompt(p),), (1.0,))
    row = [p, f"{m.tempo_bpm:g}"]
    for on in (True, False):
        req = GenerationRequest(prompts=(p,), steps=16, seed=i, tempo_bpm=m.tempo_bpm if on else None,
                                key=m.key if on else None, scale=m.scale if on else None)
        est = estimate_audio(g.render(req, 12.0))
        row += [f"{est['estimated_bpm']:.1f}", tempo_relation(m.tempo_bpm, est['estimated_bpm'])]
    print("| " + " | ".join(row) + " |", flush=True)
