"""Stage-1 benchmark: our autoencoder against two references on the same audio, plus speed. Prints tables.

    .venv/bin/python benchmarks/autoencoder.py [--dataset data/ds10h] [--quick]
        [--weights engine/weights/autoencoder.safetensors]   (one command line)

Audio: held-out test-split clips of the dataset, and clips rendered with TimGM6mb.sf2 (shipped by
pretty_midi), a soundfont we never train on. Methods:
  (1) ours: decode(encode(x)), 64x compression;
  (2) the same 64x budget spent on a plain representation: 32 mel bands per channel at hop 1024 (from a
      4096-point STFT), mapped back to linear magnitude with the filterbank's pseudo-inverse, 64 iterations
      of Griffin-Lim;
  (3) Griffin-Lim, 32 iterations, from the TRUE full STFT magnitude (2048-point, hop 512): no compression
      (the Riffusion route).
Metrics: multi-resolution log-spectral L1 in dB (windows 256-4096, hop a quarter), log-mel L1 (128 mels,
natural log), |LUFS difference|. Speed: seconds of stereo audio per second of compute, on 2 threads.

Pitch (engine/codec/evaluation.py), for ours only; these are what the log-spectral numbers missed when the
first decoder snapped every partial to a multiple of 43.07 Hz:
  * the tone set (21 saw/pluck/odd tones, 41-1970 Hz, all off the 43.07 Hz multiples) through the round
    trip: f0 in and out, error in cents; the acceptance bar is median |error| <= 10 and worst <= 25 cents;
  * frame-line prominence at every hop the codec uses (and 1024/512/256/128): how far lines at multiples of
    44100 / hop stand above their neighbourhood, input vs output (a frame-periodic output reads 20-30 dB);
  * essentia's key on a I-IV-V-I / i-iv-V-i cadence in each of the 24 keys, and on the tonal test-split
    clips whose input essentia reads in the manifest's key: does the output keep it?
Without --dataset the test-split rows are skipped (the unseen-soundfont clips are rendered here).
--quick: fewer clips and cadences, shorter tones (a few minutes on 2 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

from benchmarks.latency import stolen_seconds  # noqa: E402
from engine.allocator import keep_freed_memory  # noqa: E402
from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder  # noqa: E402
from engine.codec.stereo import STEREO_PHASES, decoding_with_stereo_phase  # noqa: E402
from engine.codec.evaluation import (TONE_SET, cents, essentia_key, estimate_f0_hz, harmonic_tone,  # noqa: E402
                                     line_prominence_table, render_cadences, same_key)
from engine.codec.spectral import (griffin_lim, log_mel_distance, log_spectral_distance_db,  # noqa: E402
                                   mel_budget_griffin_lim, stft_magnitude)

SAMPLE_RATE = 44100
EXCERPT_SAMPLES = 1024 * 344  # ~8 s


def _excerpt(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) as read -> (channels, samples), at most EXCERPT_SAMPLES, a multiple of 1024."""
    audio = audio.T[:, :EXCERPT_SAMPLES]
    return audio[:, : audio.shape[1] // 1024 * 1024]


def load_clip_rows(dataset: Path, split: str, count: int, seed: int) -> list[tuple[dict, np.ndarray]]:
    """`count` random clips of `split`: [(manifest row, audio (2, samples) excerpt)]."""
    rows = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == split]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(rows), size=min(count, len(rows)), replace=False)
    clips = []
    for index in sorted(chosen.tolist()):
        audio, _ = soundfile.read(str(dataset / rows[index]["path"]), dtype="float32", always_2d=True)
        clips.append((rows[index], _excerpt(audio)))
    return clips


def load_clips(dataset: Path, split: str, count: int, seed: int) -> list[np.ndarray]:
    return [audio for _, audio in load_clip_rows(dataset, split, count, seed)]


def unseen_soundfont_clips(count: int, seed: int) -> list[np.ndarray]:
    """Render a small dataset with TimGM6mb.sf2 (never trained on) and return its clips."""
    import pretty_midi

    from engine.dataset.builder import BuildConfig, build_dataset

    soundfont = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "unseen"
        build_dataset(BuildConfig(out_dir=out, hours=count * 9.0 / 3600, seed=seed + 999, workers=2,
                                  soundfont=str(soundfont), progress=False))
        rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        clips = []
        for row in rows[:count]:
            audio, _ = soundfile.read(str(out / row["path"]), dtype="float32", always_2d=True)
            clips.append(_excerpt(audio))
    return clips


def true_magnitude_griffin_lim(audio: torch.Tensor) -> torch.Tensor:
    """Reference (3): Griffin-Lim 32 from the true 2048-point magnitude (hop 512)."""
    n_fft, hop = 2048, 512
    return griffin_lim(stft_magnitude(audio, n_fft, hop), n_fft, hop, 32, audio.shape[-1])


def lufs(audio: np.ndarray) -> float:
    return float(pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(audio.T.astype(np.float64)))


def evaluate(clips: list[np.ndarray], methods: dict,
             outputs: dict[str, list[np.ndarray]] | None = None) -> dict[str, dict[str, float]]:
    """Mean metrics per method; each method's outputs are appended to outputs[name] when that key exists."""
    results: dict[str, dict[str, list[float]]] = {name: {"lsd": [], "mel": [], "lufs": [], "seconds": [],
                                                          "audio_seconds": []} for name in methods}
    for clip in clips:
        reference = torch.from_numpy(clip)
        for name, method in methods.items():
            started = time.perf_counter()
            with torch.no_grad():
                estimate = method(reference).float()
            results[name]["seconds"].append(time.perf_counter() - started)
            results[name]["audio_seconds"].append(clip.shape[1] / SAMPLE_RATE)
            estimate = torch.nan_to_num(estimate)
            if outputs is not None and name in outputs:
                outputs[name].append(estimate.numpy())
            results[name]["lsd"].append(log_spectral_distance_db(reference, estimate))
            results[name]["mel"].append(log_mel_distance(reference, estimate))
            results[name]["lufs"].append(abs(lufs(clip) - lufs(estimate.numpy())))
    summary = {}
    for name, metrics in results.items():
        summary[name] = {k: float(np.mean(metrics[k])) for k in ("lsd", "mel", "lufs")}
        summary[name]["x_real_time"] = float(np.sum(metrics["audio_seconds"]) / np.sum(metrics["seconds"]))
    return summary


def print_speed(model, weights: Path | None, threads: int) -> None:
    """The speed table; with `weights`, a header line naming them (the --speed-only output)."""
    stolen_before = stolen_seconds()
    encode_x, decode_x = speed(model)
    if weights is not None:
        print(f"weights: {weights}; machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {threads}; "
              f"{stolen_seconds() - stolen_before:.2f} s stolen by the hypervisor during the run")
    print("| speed (10 s stereo, median of 5) | x real time | target |")
    print("|---|---|---|")
    print(f"| encode, {threads} CPU threads, fp32 | {encode_x:.0f} | ≥ 100 |")
    print(f"| decode, {threads} CPU threads, fp32 | {decode_x:.0f} | ≥ 50 |")


def speed(model, seconds: float = 10.0, repeats: int = 5) -> tuple[float, float]:
    samples = int(seconds * SAMPLE_RATE) // 1024 * 1024
    audio = torch.randn(1, 2, samples) * 0.1
    with torch.no_grad():
        latent = model.encode(audio)
        model.decode(latent)
        encode_times, decode_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            latent = model.encode(audio)
            encode_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.decode(latent)
            decode_times.append(time.perf_counter() - start)
    audio_seconds = samples / SAMPLE_RATE
    return audio_seconds / float(np.median(encode_times)), audio_seconds / float(np.median(decode_times))


def codec_hops(model) -> list[int]:
    """The hops whose frame lines we measure: the codec's own (latent frame, encoder and decoder STFT hops)
    and 1024/512/256/128, largest first."""
    hops = {1024, 512, 256, 128}
    for name in ("hop_frames", "encoder_hop", "decoder_hop"):
        value = getattr(model.config, name, None)
        if isinstance(value, int) and value > 0:
            hops.add(value)
    return sorted(hops, reverse=True)


def round_trip(model, audio: np.ndarray) -> np.ndarray:
    """decode(encode(x)) of (2, samples) float32 -> (2, samples) float32 numpy."""
    with torch.no_grad():
        return model.decode(model.encode(torch.from_numpy(np.ascontiguousarray(audio))[None]))[0].float().numpy()


def pitch_section(model, tone_seconds: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Print the per-tone pitch table; returns the tones in and out (for the prominence table)."""
    samples = int(tone_seconds * SAMPLE_RATE) // 1024 * 1024
    inputs = [harmonic_tone(f0, timbre, samples / SAMPLE_RATE) for f0, timbre in TONE_SET]
    outputs = [round_trip(model, tone) for tone in inputs]
    print(f"Pitch through the round trip: the tone set, {samples / SAMPLE_RATE:.2f} s tones "
          "(f0 of the steady middle; acceptance: median |error| <= 10 cents, worst <= 25)")
    print()
    print("| tone | f0 (Hz) | timbre | estimated in (Hz) | estimated out (Hz) | error (cents) |")
    print("|---|---|---|---|---|---|")
    errors = []
    for tone, source, decoded in zip(TONE_SET, inputs, outputs):
        estimated_in = estimate_f0_hz(source, SAMPLE_RATE, tone.f0_hz)
        estimated_out = estimate_f0_hz(decoded, SAMPLE_RATE, tone.f0_hz)
        error = cents(estimated_out, tone.f0_hz)
        errors.append(abs(error) if np.isfinite(error) else float("inf"))
        print(f"| {tone.name} | {tone.f0_hz:.2f} | {tone.timbre} | {estimated_in:.3f} | {estimated_out:.3f} | "
              f"{error:+.1f} |")
    errors_array = np.asarray(errors)
    verdict = "pass" if np.median(errors_array) <= 10.0 and errors_array.max() <= 25.0 else "FAIL"
    print()
    print(f"median |error| {np.median(errors_array):.1f} cents, mean {np.mean(errors_array):.1f}, worst "
          f"{errors_array.max():.1f} ({TONE_SET[int(np.argmax(errors_array))].name}); "
          f"within 10 cents: {int(np.sum(errors_array <= 10.0))}/{len(errors)}; {verdict}")
    return inputs, outputs


def prominence_section(hops: list[int], sets: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]) -> None:
    """Print mean frame-line prominence per hop, input vs output, for each named (inputs, outputs) set."""
    print()
    print("Frame-line prominence (dB; lines at multiples of 44100 / hop vs their neighbourhood, mean over the "
          "set; a frame-periodic output reads 20-30 dB, clean audio 0-5)")
    print()
    print("| audio | hop (line Hz) | input (dB) | output (dB) | output - input (dB) |")
    print("|---|---|---|---|---|")
    for name, (inputs, outputs) in sets.items():
        if not inputs:
            continue
        before = [line_prominence_table(x, SAMPLE_RATE, tuple(hops)) for x in inputs]
        after = [line_prominence_table(y, SAMPLE_RATE, tuple(hops)) for y in outputs]
        for hop in hops:
            b = float(np.mean([t[hop] for t in before]))
            a = float(np.mean([t[hop] for t in after]))
            print(f"| {name} ({len(inputs)}) | {hop} ({SAMPLE_RATE / hop:.2f}) | {b:.1f} | {a:.1f} | {a - b:+.1f} |")


def cadence_section(model, keys: list[tuple[int, str]], soundfont: str | None
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Render the cadences, print essentia's key in and out per cadence; returns (inputs, outputs)."""
    cadences = render_cadences(keys, soundfont)
    inputs, outputs = [], []
    print()
    print(f"Key on rendered cadences (I-IV-V7-I / i-iv-V7-i, piano and bass, ~10 s, "
          f"{Path(soundfont).name if soundfont else 'FluidR3_GM'}; essentia KeyExtractor)")
    print()
    print("| key | input reads | output reads | input right | output keeps the key |")
    print("|---|---|---|---|---|")
    right_in = kept = kept_of_right = 0
    for name, scale, audio in cadences:
        decoded = round_trip(model, audio)
        inputs.append(audio)
        outputs.append(decoded)
        key_in, scale_in, strength_in = essentia_key(audio, SAMPLE_RATE)
        key_out, scale_out, strength_out = essentia_key(decoded, SAMPLE_RATE)
        good_in = same_key(name, scale, key_in, scale_in)
        good_out = same_key(name, scale, key_out, scale_out)
        right_in += good_in
        kept += good_out
        kept_of_right += good_in and good_out
        print(f"| {name} {scale} | {key_in} {scale_in} ({strength_in:.2f}) | {key_out} {scale_out} "
              f"({strength_out:.2f}) | {'yes' if good_in else 'no'} | {'yes' if good_out else 'no'} |")
    print()
    print(f"cadences: input read right {right_in}/{len(cadences)}; output in the right key {kept}/{len(cadences)} "
          f"({kept_of_right}/{right_in} of those whose input reads right)")
    return inputs, outputs


def dataset_key_section(clips: list[tuple[dict, np.ndarray]], outputs: list[np.ndarray]) -> None:
    """Key kept on the tonal test clips whose input essentia reads in the manifest's key."""
    tonal = [(row, audio, decoded) for (row, audio), decoded in zip(clips, outputs)
             if row.get("scale") in ("major", "minor")]
    readable = kept = 0
    for row, audio, decoded in tonal:
        key_in, scale_in, _ = essentia_key(audio, SAMPLE_RATE)
        if not same_key(row["key"], row["scale"], key_in, scale_in):
            continue
        readable += 1
        key_out, scale_out, _ = essentia_key(decoded, SAMPLE_RATE)
        kept += same_key(row["key"], row["scale"], key_out, scale_out)
    print()
    print("| test-split clips | tonal (major/minor) | input reads the manifest key | output keeps it |")
    print("|---|---|---|---|")
    share = f"{kept / readable:.2f}" if readable else "-"
    print(f"| {len(clips)} | {len(tonal)} | {readable} | {kept} ({share}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=None,
                        help="dataset with a test split (manifest.jsonl); without it the test-split rows are skipped")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--test-clips", type=int, default=None, help="default 50 (10 with --quick)")
    parser.add_argument("--unseen-clips", type=int, default=None, help="default 20 (4 with --quick)")
    parser.add_argument("--cadence-soundfont", default=None, help="soundfont for the cadences (default FluidR3_GM)")
    parser.add_argument("--tone-seconds", type=float, default=None, help="default 3 (1.5 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer clips (10 test, 4 unseen), 8 of the 24 cadences, 1.5 s tones")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stereo-phase", choices=STEREO_PHASES, default=None,
                        help="decode with this phase setting instead of the file's (session 25: 'per_channel' is how "
                             "codecs v2.0-v2.4 decoded until then)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="only the Cascade codec (leave out the Griffin-Lim rows, the slow part)")
    parser.add_argument("--speed-only", action="store_true",
                        help="print only the speed table (encode and decode of 10 s of noise)")
    args = parser.parse_args()
    test_count = args.test_clips if args.test_clips is not None else (10 if args.quick else 50)
    unseen_count = args.unseen_clips if args.unseen_clips is not None else (4 if args.quick else 20)
    tone_seconds = args.tone_seconds if args.tone_seconds is not None else (1.5 if args.quick else 3.0)
    cadence_keys = [(tonic, mode) for tonic in range(12) for mode in ("major", "minor")]
    if args.quick:
        cadence_keys = cadence_keys[::3]
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every `cascade` command does (engine/allocator.py)
    model = load_autoencoder(args.weights)
    # a synthesis setting, no weights: the same network decodes either way
    with decoding_with_stereo_phase(model, args.stereo_phase or model.decoder.config.decoder_stereo_phase):
        print(f"decoder stereo phase: {model.decoder.config.decoder_stereo_phase}")
        if args.speed_only:
            print_speed(model, args.weights, args.threads)
            return

        def ours(audio: torch.Tensor) -> torch.Tensor:
            return model.decode(model.encode(audio[None]))[0]

        ours_name = "(1) Cascade autoencoder, 64x"
        methods = {ours_name: ours}
        if not args.no_baselines:
            methods["(2) 32 mels/ch at hop 1024 + Griffin-Lim 64, 64x"] = mel_budget_griffin_lim
            methods["(3) Griffin-Lim 32 from the true magnitude, 1x"] = true_magnitude_griffin_lim
        test_rows = load_clip_rows(args.dataset, "test", test_count, args.seed) if args.dataset else []
        sets: dict[str, list[np.ndarray]] = {}
        if args.dataset:
            soundfonts = sorted({Path(row.get("soundfont", "?")).stem.split("_")[0] for row, _ in test_rows})
            sets[f"test split ({len(test_rows)} clips, {'/'.join(soundfonts)})"] = [audio for _, audio in test_rows]
        if unseen_count > 0:
            sets[f"unseen soundfont ({unseen_count} clips, TimGM6mb)"] = unseen_soundfont_clips(unseen_count, args.seed)
        print(f"weights: {args.weights}; machine: {platform.machine()}, {os.cpu_count()} cores, "
              f"torch threads {args.threads}"
              f"{'; --quick' if args.quick else ''}{'' if args.dataset else '; no --dataset: test-split rows skipped'}")
        print()
        print("| audio | method | log-spectral L1 (dB) | log-mel L1 | |ΔLUFS| (LU) | round trip x real time |")
        print("|---|---|---|---|---|---|")
        decoded_sets: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for set_name, clips in sets.items():
            outputs: dict[str, list[np.ndarray]] = {ours_name: []}
            for method, metrics in evaluate(clips, methods, outputs).items():
                print(f"| {set_name} | {method} | {metrics['lsd']:.2f} | {metrics['mel']:.3f} | {metrics['lufs']:.2f} | "
                      f"{metrics['x_real_time']:.1f} |")
            decoded_sets[set_name.split(" (")[0] + " clips"] = (clips, outputs[ours_name])
        print()
        print_speed(model, None, args.threads)
        print()
        tones_in, tones_out = pitch_section(model, tone_seconds)
        cadences_in, cadences_out = cadence_section(model, cadence_keys, args.cadence_soundfont)
        if args.dataset and test_rows:
            test_outputs = decoded_sets["test split clips"][1]
            dataset_key_section(test_rows, test_outputs)
        prominence_section(codec_hops(model), {"tone set": (tones_in, tones_out),
                                               "cadences": (cadences_in, cadences_out), **decoded_sets})


if __name__ == "__main__":
    main()
