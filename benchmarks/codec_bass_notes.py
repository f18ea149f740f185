"""Low notes of real instruments through the codec: single notes E1-A2 of six GM instruments rendered with
TimGM6mb.sf2 (shipped by pretty_midi, never trained on), f0 of the steady part in and out. Prints a table.

    .venv/bin/python benchmarks/codec_bass_notes.py [--weights A.safetensors B.safetensors ...]

The tone set (benchmarks/autoencoder.py) uses synthetic saw / plucked / odd-harmonic tones; a decoder can learn
those families and still miss a real bass. This is the check that does not come from the training families:
each column is a codec's error in cents against the input's own f0 (the estimator's bias cancels).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.evaluation import cents, estimate_f0_hz  # noqa: E402
from engine.dataset.render import FluidRenderer  # noqa: E402
from engine.dataset.score import Note, Piece, Track  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402

PROGRAMS = {"acoustic bass": 32, "finger bass": 33, "synth bass 1": 38, "acoustic grand": 0, "cello": 42, "tuba": 58}
PITCHES = (28, 31, 33, 36, 38, 40, 43, 45)  # E1 G1 A1 C2 D2 E2 G2 A2 (41-110 Hz)
NOTE_SECONDS, STEADY_SECONDS = 1.9, (0.3, 1.8)


def render_note(renderer: FluidRenderer, program: int, pitch: int) -> np.ndarray:
    """(2, samples) float32, peak 0.3, a whole number of latent frames."""
    piece = Piece(piece_id="bass-check", source="composer", source_name="benchmark", style="test", tempo_bpm=120.0,
                  key_tonic="C", scale="major", beats_per_bar=4, bar_starts_seconds=[0.0], end_seconds=2.0,
                  tracks=[Track("note", program, False, "bass", [Note(pitch, 0.0, NOTE_SECONDS, 100)])],
                  bar_energy=[0.5])
    audio = renderer.render(piece, tail_seconds=0.5)
    audio = audio[:, :int(2.4 * SAMPLE_RATE) // 1024 * 1024]
    return (audio / (np.abs(audio).max() + 1e-9) * 0.3).astype(np.float32)


def steady(audio: np.ndarray) -> np.ndarray:
    return audio[:, int(STEADY_SECONDS[0] * SAMPLE_RATE):int(STEADY_SECONDS[1] * SAMPLE_RATE)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    renderer = FluidRenderer(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
    models = [load_autoencoder(path).float().eval() for path in args.weights]
    names = [path.name for path in args.weights]
    print("| instrument | note | f0 in (Hz) | " + " | ".join(f"{n} (cents)" for n in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    errors = []
    for instrument, program in PROGRAMS.items():
        for pitch in PITCHES:
            audio = render_note(renderer, program, pitch)
            nominal = 440.0 * 2 ** ((pitch - 69) / 12)
            f_in = estimate_f0_hz(steady(audio), SAMPLE_RATE, nominal)
            row = []
            for model in models:
                with torch.no_grad():
                    out = model.decode(model.encode(torch.from_numpy(np.ascontiguousarray(audio))[None]))[0].numpy()
                row.append(cents(estimate_f0_hz(steady(out), SAMPLE_RATE, f_in), f_in))
            errors.append(row)
            name = pretty_midi.note_number_to_name(pitch)
            print(f"| {instrument} | {name} | {f_in:.2f} | " + " | ".join(f"{e:+.1f}" for e in row) + " |", flush=True)
    table = np.abs(np.array(errors, dtype=float))
    print()
    print("| weights | notes | median abs (cents) | within 10 c | within 25 c | worst |")
    print("|---|---|---|---|---|---|")
    for i, name in enumerate(names):
        column = table[:, i]
        print(f"| {name} | {column.size} | {np.nanmedian(column):.1f} | {int(np.sum(column <= 10))} | "
              f"{int(np.sum(column <= 25))} | {np.nanmax(column):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
