"""What `cascade render` makes of a few prompts, read by essentia and by a fine spectrogram: a table and a figure.

    .venv/bin/python benchmarks/render_report.py [--seconds 20] [--steps 16] [--seed 0]
        [--autoencoder engine/weights/autoencoder.safetensors] [--diffusion engine/weights/diffusion.safetensors]
        [--prompts "TEXT|TEMPO|KEY SCALE" ...] [--out docs/render_spectrograms.png] [--audio-dir DIR]
        [--threads 2]   (one command line)

Each prompt is rendered exactly as `cascade render PROMPT --seconds S --steps N --seed K --tempo T --key K
--scale S` does (instrument/commands/render.py `_cmd_render`): one `GenerationRequest` with cfg 3.0, sampler dpmpp_2m,
tempo/key/scale through the request's controls, `Generator.load(..., traced=True)` on CUDA when present,
`Generator.render` (chunked continuation, windows of 128 latent frames). A prompt is given as
"TEXT|TEMPO|KEY SCALE", tempo and key optional ("ambient pad", "ambient pad|90", "ambient pad||C minor");
the key is a tonic as the request spells it (C, F#, Bb, Eb; no "E-flat") and a scale among major, minor,
dorian, mixolydian.

For each render the table gives:
  - essentia's tempo (RhythmExtractor2013, method "multifeature") and key + scale (KeyExtractor), the calls of
    engine/dataset/validate.py `estimate_audio`, next to what the request asked; tempo agreement as in the
    dataset check (exact = within 4 %, octave = x2 or x1/2, third = x3 or x1/3, else wrong); key agreement
    with enharmonic tonics equal (essentia only answers major or minor);
  - the line prominence at the codec's frame rates (engine/codec/evaluation.py `line_prominence_table`, hops
    1024 and 256: lines at the multiples of 43.07 Hz and 172.3 Hz): music reads 0-4 dB, a decoder output that
    repeats every hop (a fixed comb) 20-30 dB;
  - the render's wall time and its real-time factor (compute seconds per second of audio), after a throw-away
    one-step chunk that pays the one-off costs (the U-Net's trace, the phase kernels' first call).

The figure (one row per render): the mono mix's spectrogram, 8192-point Hann FFT (5.4 Hz bins), hop 1024,
0-1500 Hz, dB re the render's peak (small ticks on the right edge at the multiples of 43.07 Hz), and its
long-term spectrum 0-1500 Hz (Welch, 65536-point Blackman-Harris, 0.67 Hz bins) with the multiples of
43.07 Hz drawn faintly behind it. --audio-dir also writes each render as 24-bit FLAC.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.spectra import MAX_HZ, SAMPLE_RATE, long_term_db, spectrogram_db  # noqa: E402

LINE_HZ = SAMPLE_RATE / 1024
HOPS = (1024, 256)
# cascade render's defaults (instrument/commands/render.py): --cfg 3.0, --sampler dpmpp_2m, --steps 16, --seed 0.
RENDER_CFG = 3.0
RENDER_SAMPLER = "dpmpp_2m"
RENDER_STEPS = 16
DEFAULT_PROMPTS = (
    "deep house groove with a warm bassline|124|F minor",
    "solo piano ballad|72|Eb major",
    "jazz trio with brushed drums and upright bass|140|D minor",
)


@dataclass(frozen=True)
class PromptSpec:
    text: str
    tempo_bpm: float | None
    key: str | None
    scale: str | None

    @property
    def asked_key(self) -> str:
        if self.key is None and self.scale is None:
            return "-"
        return " ".join(part for part in (self.key, self.scale) if part)


def parse_prompt(spec: str) -> PromptSpec:
    """"TEXT|TEMPO|KEY SCALE" -> PromptSpec (empty or missing fields: not asked)."""
    parts = [part.strip() for part in spec.split("|")]
    if len(parts) > 3 or not parts[0]:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected \"TEXT|TEMPO|KEY SCALE\" (tempo and key optional)")
    tempo = None
    if len(parts) > 1 and parts[1]:
        try:
            tempo = float(parts[1])
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{spec!r}: tempo {parts[1]!r} is not a number") from error
    key = scale = None
    if len(parts) > 2 and parts[2]:
        words = parts[2].split()
        if len(words) > 2:
            raise argparse.ArgumentTypeError(f"{spec!r}: key {parts[2]!r} should be \"TONIC [SCALE]\"")
        key = words[0]
        scale = words[1].lower() if len(words) > 1 else None
    return PromptSpec(parts[0], tempo, key, scale)


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-") or "prompt"


def analyse(audio: np.ndarray, spec: PromptSpec) -> dict[str, Any]:
    """essentia's tempo/key, their agreement with the request, and the line prominence at HOPS."""
    from engine.codec.evaluation import line_prominence_table, same_key, same_tonic
    from engine.dataset.validate import estimate_audio, tempo_relation

    row: dict[str, Any] = dict(estimate_audio(audio))
    row["tempo_relation"] = "-" if spec.tempo_bpm is None else tempo_relation(spec.tempo_bpm, row["estimated_bpm"])
    if spec.key is None:
        row["key_relation"] = "-"
    elif spec.scale is None or spec.scale not in ("major", "minor"):
        # A modal (or scale-less) request: essentia answers major/minor only, so compare tonics.
        row["key_relation"] = "tonic" if same_tonic(spec.key, row["estimated_key"]) else "wrong"
    elif same_key(spec.key, spec.scale, row["estimated_key"], row["estimated_scale"]):
        row["key_relation"] = "exact"
    elif same_tonic(spec.key, row["estimated_key"]):
        row["key_relation"] = "tonic"
    else:
        row["key_relation"] = "wrong"
    row["prominence_db"] = line_prominence_table(audio, SAMPLE_RATE, hops=HOPS)
    row["peak"] = float(np.abs(audio).max()) if audio.size else 0.0
    return row


def print_table(specs: list[PromptSpec], rows: list[dict[str, Any]], seconds: float) -> None:
    header = (f"{'prompt':<48} {'asked':>16} | {'essentia tempo':>17} {'':<6} {'essentia key':>19} {'':<5} | "
              + " ".join(f"{'prom ' + str(h):>9}" for h in HOPS) + f" | {'peak':>5} {'render':>7} {'x RT':>5}")
    print(header)
    print("-" * len(header))
    for spec, row in zip(specs, rows):
        text = spec.text if len(spec.text) <= 48 else spec.text[:45] + "..."
        asked = f"{'-' if spec.tempo_bpm is None else f'{spec.tempo_bpm:g}'} / {spec.asked_key}"
        tempo = f"{row['estimated_bpm']:6.1f} (c {row['tempo_confidence']:.2f})"
        key = f"{row['estimated_key'] + ' ' + row['estimated_scale']:>9} (s {row['key_strength']:.2f})"
        prominence = " ".join(f"{row['prominence_db'][h]:7.1f}dB" for h in HOPS)
        print(f"{text:<48} {asked:>16} | {tempo:>17} {row['tempo_relation']:<6} {key:>19} {row['key_relation']:<5} | "
              f"{prominence} | {row['peak']:5.2f} {row['render_s']:6.1f}s {row['render_s'] / seconds:5.2f}")
    print(f"\n{seconds:g} s each. tempo: exact = within 4 %, octave = x2 or x1/2, third = x3 or x1/3 (c = essentia's "
          "confidence, 0-5.3); key: exact = tonic and scale, tonic = tonic only (s = strength 0-1).\n"
          "prom H = mean prominence of the spectral lines at the multiples of 44100/H Hz (43.07 Hz for H = 1024, "
          "172.27 Hz for 256): music 0-4 dB,\na fixed comb (output repeating every H samples) 20-30 dB. x RT = render "
          "seconds per second of audio (diffusion + decode).")


def draw_figure(specs: list[PromptSpec], audios: list[np.ndarray], rows: list[dict[str, Any]], out: Path,
                caption: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.transforms as mtransforms

    count = len(specs)
    fig, axes = plt.subplots(count, 2, figsize=(18, 4.6 * count), squeeze=False,
                             gridspec_kw={"width_ratios": (1.7, 1.0)})
    multiples = LINE_HZ * np.arange(1, int(MAX_HZ / LINE_HZ) + 1)
    for index, (spec, audio, row) in enumerate(zip(specs, audios, rows)):
        freqs, times, level = spectrogram_db(audio.mean(axis=0))
        top = float(level.max()) if level.size else 0.0
        ax = axes[index, 0]
        image = ax.pcolormesh(times, freqs, level - top, vmin=-80.0, vmax=0.0, cmap="magma", shading="auto",
                              rasterized=True)
        # Short ticks just inside the right edge at the multiples of 43.07 Hz: where a comb would sit, without
        # covering the spectrogram itself.
        edge = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
        for hz in multiples:
            ax.plot((0.985, 1.0), (hz, hz), transform=edge, color="#7fff7f", linewidth=0.9, clip_on=False)
        ax.set_ylim(0, MAX_HZ)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        fig.colorbar(image, ax=ax, label="dB re render peak", pad=0.01)
        asked = (f"asked {'-' if spec.tempo_bpm is None else f'{spec.tempo_bpm:g} BPM'}, {spec.asked_key}")
        read = (f"essentia {row['estimated_bpm']:.1f} BPM ({row['tempo_relation']}), {row['estimated_key']} "
                f"{row['estimated_scale']} ({row['key_relation']})")
        ax.set_title(f"\"{spec.text}\"\n{asked}; {read}", fontsize=10)

        ax = axes[index, 1]
        freqs, level = long_term_db(audio)
        peak = float(level.max())
        for hz in multiples:
            ax.axvline(hz, color="#2ca02c", alpha=0.25, linewidth=0.7, zorder=0)
        ax.plot(freqs, level - peak, color="#1f77b4", linewidth=0.7, zorder=2)
        prominence = ", ".join(f"hop {h}: {row['prominence_db'][h]:.1f} dB" for h in HOPS)
        ax.set_title(f"long-term spectrum; green = multiples of {LINE_HZ:.2f} Hz\nline prominence {prominence}",
                     fontsize=10)
        ax.set_xlim(0, MAX_HZ)
        ax.set_ylim(-90, 5)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("dB re spectrum peak")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(caption, fontsize=11)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.35 / (4.6 * count)))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> int:
    from engine.codec.checkpoint import DEFAULT_WEIGHTS
    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autoencoder", type=Path, default=DEFAULT_WEIGHTS,
                        help="codec .safetensors (default: shipped)")
    parser.add_argument("--diffusion", type=Path, default=DEFAULT_DIFFUSION_WEIGHTS,
                        help="diffusion .safetensors (default: shipped)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--steps", type=int, default=RENDER_STEPS,
                        help="sampler steps per chunk (default: cascade render's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompts", type=parse_prompt, nargs="+", default=[parse_prompt(p) for p in DEFAULT_PROMPTS],
                        metavar="\"TEXT|TEMPO|KEY SCALE\"", help="default: " + "; ".join(DEFAULT_PROMPTS))
    parser.add_argument("--out", type=Path, default=Path("docs/render_spectrograms.png"))
    parser.add_argument("--audio-dir", type=Path, default=None, help="also write each render here as FLAC")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    if not (math.isfinite(args.seconds) and args.seconds >= 1.0):
        parser.error("--seconds must be at least 1 (line prominence needs 32768 samples)")

    import soundfile
    import torch

    from engine.codec.checkpoint import CheckpointError
    from engine.generate import Generator
    from engine.request import GenerationError, GenerationRequest

    torch.set_num_threads(args.threads)
    # The phase integrator's numba kernels run on numba's OpenMP threading layer, which shares the OpenMP runtime
    # with torch: its first parallel launch sets torch's thread count to numba's (all cores) for every later
    # render. Give numba the same count.
    import numba

    numba.set_num_threads(max(1, min(args.threads, numba.config.NUMBA_NUM_THREADS)))
    specs: list[PromptSpec] = list(args.prompts)
    requests = [GenerationRequest(prompts=(spec.text,), weights=(1.0,), cfg_scale=RENDER_CFG, steps=args.steps,
                                  sampler=RENDER_SAMPLER, seed=args.seed, tempo_bpm=spec.tempo_bpm, key=spec.key,
                                  scale=spec.scale) for spec in specs]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        for request in requests:
            request.validated()
        started = time.perf_counter()
        generator = Generator.load(args.diffusion, args.autoencoder, device=device, traced=True)
        load_s = time.perf_counter() - started
    except (GenerationError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"model {generator.model_id}, codec {args.autoencoder.name}, {device}, {args.threads} threads, "
          f"steps {args.steps}, seed {args.seed}, loaded in {load_s:.1f} s", flush=True)

    # One throw-away chunk first: the traced U-Net's one-off trace of the window's shape and the phase kernels'
    # first call are paid here, so every row's render time is a steady-state one.
    started = time.perf_counter()
    generator.render(replace(requests[0], steps=1), 1.0)
    print(f"warm-up {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    audios: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    if args.audio_dir is not None:
        args.audio_dir.mkdir(parents=True, exist_ok=True)
    for index, (spec, request) in enumerate(zip(specs, requests)):
        started = time.perf_counter()
        audio = generator.render(request, args.seconds)
        render_s = time.perf_counter() - started
        row = analyse(audio, spec)
        row["render_s"] = render_s
        rows.append(row)
        audios.append(audio)
        print(f"  [{index + 1}/{len(specs)}] {spec.text}: {render_s:.1f} s to render, "
              f"{time.perf_counter() - started - render_s:.1f} s to analyse", file=sys.stderr, flush=True)
        if args.audio_dir is not None:
            path = args.audio_dir / f"{index + 1:02d}-{_slug(spec.text)}.flac"
            soundfile.write(path, audio.T, generator.sample_rate, subtype="PCM_24")
            print(f"  wrote {path}", file=sys.stderr, flush=True)
    print()
    print_table(specs, rows, args.seconds)
    caption = (f"cascade render, {args.seconds:g} s, {args.steps} steps, seed {args.seed}: diffusion "
               f"{generator.model_id}, codec {args.autoencoder.name}. Left: 8192-point spectrogram (5.4 Hz bins), "
               f"hop 1024; right: long-term spectrum (0.67 Hz bins)")
    draw_figure(specs, audios, rows, args.out, caption)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
