"""Targets for training the decoder's low-bin frequency branch alone, computed once (session 13 research).

With the encoder and the magnitude decoder frozen, the branch's loss depends on the audio only through the
latent, the target correction (the input's instantaneous frequency minus what the phase integration reads
off the decoder's magnitude) and the loss weights (the decoder's low-band power share, gated 60 dB under the
segment's peak): `engine/codec/spectral.LowBinFrequencyLoss.targets`, precomputed. Training the branch on this cache
costs ~80 ms a step at batch 32 on 2 CPU threads, against ~0.6 s at batch 16 through the whole codec.

    .venv/bin/python scripts/codec_branch/build_cache.py OUT.pt KIND COUNT SEED [--dataset DIR]

KIND: tones (engine/codec/synthetic.py's single voices, 38-400 Hz), families (steady / plucked / darkening
harmonic tones with random tilt, odd/even balance and decay, 38-400 Hz), notes (single GM notes and
intervals, MIDI 24-85, rendered with the training soundfonts, never TimGM6mb), music (dataset segments).
Segments are 48 latent frames (1.1 s). Stored: latent (fp16), target and weight (batch, 2, frames, 16) fp16,
lowmag (the decoder's log-magnitude of bins 0-23, for weighting experiments).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.spectral import LowBinFrequencyLoss  # noqa: E402
from engine.codec.synthetic import HarmonicToneSource  # noqa: E402

BINS = 16
LATENT_FRAMES = 48
SEGMENT_SAMPLES = LATENT_FRAMES * 1024
SAMPLE_RATE = 44100
TRAINING_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf3/FluidR3Mono_GM.sf3",
                       "/usr/share/sounds/sf3/MuseScore_General_Lite.sf3")


class Segments:
    """Random 1.1 s stereo segments of one kind, from its own seeded generator."""

    def __init__(self, kind: str, seed: int, dataset: Path | None) -> None:
        self.kind = kind
        self.rng = np.random.default_rng(seed)
        self.tones = HarmonicToneSource(seed)
        self.music = None
        self.renderers: list = []
        if kind == "music":
            from engine.codec.train import ManifestSegments
            if dataset is None:
                raise SystemExit("music needs --dataset")
            self.music = ManifestSegments(dataset, "train", SEGMENT_SAMPLES, seed)
        if kind == "notes":
            from engine.dataset.render import FluidRenderer
            self.renderers = [FluidRenderer(path) for path in TRAINING_SOUNDFONTS]

    def _placed(self, mono: np.ndarray) -> np.ndarray:
        """A mono tone panned, levelled and given a noise floor: (2, samples) float32."""
        rng = self.rng
        pan = rng.uniform(0.2, 0.8)
        stereo = np.stack([mono * np.sqrt(1 - pan), mono * np.sqrt(pan)]) * 10 ** rng.uniform(-1.5, -0.3)
        return (stereo + rng.normal(0, 10 ** rng.uniform(-5, -3), stereo.shape)).astype(np.float32)

    def _family_tone(self, f0_hz: float) -> np.ndarray:
        rng = self.rng
        partials = max(1, int(10000 / f0_hz))
        k = np.arange(1, partials + 1)
        t = np.arange(SEGMENT_SAMPLES) / SAMPLE_RATE
        amplitude = k ** -rng.uniform(0.7, 1.5) * np.exp(rng.normal(0, 0.2, partials))
        if rng.random() < 0.3:
            amplitude[1::2] *= rng.uniform(0, 0.15)
        family = rng.choice(["steady", "pluck", "dark"], p=[0.4, 0.4, 0.2])
        if family == "dark":
            return self.tones._tone(f0_hz, SEGMENT_SAMPLES)
        decay = (rng.uniform(0.3, 2) + rng.uniform(1, 5) * k * f0_hz / 1000) if family == "pluck" else np.zeros(partials)
        start_phase = rng.uniform(0, 2 * np.pi, partials)
        wave = np.zeros(SEGMENT_SAMPLES)
        for i in range(0, partials, 32):
            kk = k[i:i + 32, None]
            wave += (amplitude[i:i + 32, None] * np.exp(-decay[i:i + 32, None] * t)
                     * np.sin(2 * np.pi * f0_hz * kk * t + start_phase[i:i + 32, None])).sum(0)
        envelope = np.minimum(1, t / rng.uniform(0.002, 0.03))
        onset = int(rng.uniform(0, 0.3) * SEGMENT_SAMPLES) if rng.random() < 0.5 else 0
        envelope = np.roll(envelope, onset)
        envelope[:onset] = 0
        wave *= envelope
        return wave / (np.abs(wave).max() + 1e-9)

    def _note(self) -> np.ndarray | None:
        from engine.dataset.score import Note, Piece, Track
        rng = self.rng
        renderer = self.renderers[rng.integers(len(self.renderers))]
        family = rng.choice([32, 0, 16, 24, 40, 56, 64, 80, 88], p=[0.3, 0.15, 0.1, 0.1, 0.1, 0.07, 0.06, 0.06, 0.06])
        low = int(rng.integers(24, 62))
        pitches = [low] + ([low + int(rng.choice([7, 12, 16, 19, 24]))] if rng.random() < 0.25 else [])
        start = float(rng.uniform(0, 0.3)) if rng.random() < 0.5 else 0.0
        end = start + float(rng.uniform(0.4, 1.2))
        track = Track("n", int(family + rng.integers(8)), False, "bass",
                      [Note(p, start, end, int(rng.integers(60, 128))) for p in pitches])
        piece = Piece(piece_id="n", source="composer", source_name="branch-cache", style="t", tempo_bpm=120.0,
                      key_tonic="C", scale="major", beats_per_bar=4, bar_starts_seconds=[0.0],
                      end_seconds=max(end, SEGMENT_SAMPLES / SAMPLE_RATE), tracks=[track], bar_energy=[0.5])
        audio = renderer.render(piece, tail_seconds=0.3)[:, :SEGMENT_SAMPLES]
        audio = np.pad(audio, ((0, 0), (0, SEGMENT_SAMPLES - audio.shape[1])))
        peak = np.abs(audio).max()
        if peak < 1e-6:
            return None
        audio = audio / peak * 10 ** rng.uniform(-1.5, -0.3)
        return (audio + rng.normal(0, 10 ** rng.uniform(-5, -3), audio.shape)).astype(np.float32)

    def next(self) -> np.ndarray:
        low_f0 = float(np.exp(self.rng.uniform(np.log(38), np.log(400))))
        if self.kind == "tones":
            return self._placed(self.tones._tone(low_f0, SEGMENT_SAMPLES))
        if self.kind == "families":
            return self._placed(self._family_tone(low_f0))
        if self.kind == "notes":
            while (note := self._note()) is None:
                pass
            return note
        return self.music.batch(1)[0].numpy()


def segment_arguments(description: str, threads: int) -> argparse.ArgumentParser:
    """The command line both cache builders share: OUT KIND COUNT SEED [--dataset] [--weights] [--threads]."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out", type=Path)
    parser.add_argument("kind", choices=("tones", "families", "notes", "music"))
    parser.add_argument("count", type=int)
    parser.add_argument("seed", type=int)
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--threads", type=int, default=threads)
    return parser


def main() -> int:
    args = segment_arguments(__doc__.split("\n")[0], threads=2).parse_args()
    torch.set_num_threads(args.threads)
    model = load_autoencoder(args.weights).float().eval()
    decoder = model.decoder
    loss = LowBinFrequencyLoss(model.config.decoder_n_fft, model.config.decoder_hop)
    segments = Segments(args.kind, args.seed, args.dataset)
    parts: dict[str, list[torch.Tensor]] = {"latent": [], "target": [], "weight": [], "lowmag": []}
    started = time.monotonic()
    for done in range(0, args.count, 32):
        audio = torch.from_numpy(np.stack([segments.next() for _ in range(min(32, args.count - done))]))
        with torch.no_grad():
            latent = model.encode(audio)
            log_magnitude = decoder.log_magnitude(latent)
        target, weight = loss.targets(audio, log_magnitude, log_magnitude.shape[-1], BINS)
        weight[..., 0] = 0  # DC does not rotate (the loss's cents per bin is 0 there)
        parts["latent"].append(latent.half())
        parts["target"].append(target.half())
        parts["weight"].append(weight.half())
        parts["lowmag"].append(log_magnitude[:, :, :24].permute(0, 1, 3, 2).half())
        if done % 640 == 0:
            print(f"{done} segments, {time.monotonic() - started:.0f} s", flush=True)
    torch.save({name: torch.cat(values) for name, values in parts.items()}, args.out)
    print(f"wrote {args.out}: {args.count} {args.kind} segments in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
