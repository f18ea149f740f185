"""Does the codec keep a mix's two channels together? Real clips before and after encode + decode, with the
channels' phase shared (the shipped setting since session 25) and integrated per channel (codecs v2.0-v2.4 until
then). Prints a table.

    .venv/bin/python benchmarks/codec_stereo.py --dataset DS [--clips 209] [--seconds 8]

The first --clips test-split clips of DS (their first --seconds), through the shipped codec's weights
(Generator.encode, then decode as a render's latent is decoded), measured per setting:
  - the correlation of the left and right channels (the input's beside it);
  - the mono sum's level: its power over the channels' mean power in dB, output minus input (what a mono club
    system or a phone speaker loses);
  - the log-mel offset of the mono mix, output minus input, averaged over 64 mel bands and frames (in dB: what the
    style judge of benchmarks/quality.py reads its timbre from);
  - the loudness offset (our loudness descriptor, dBFS RMS per 1024-sample frame, mean over frames);
  - log-spectral L1 of each channel and of the mono sum (engine/codec/spectral.py, the codec benchmark's metric);
  - decode time per clip (the phase integration runs once per item instead of once per channel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

import numpy as np  # noqa: E402
import soundfile  # noqa: E402
import torch  # noqa: E402

from engine.allocator import keep_freed_memory  # noqa: E402
from engine.codec.stereo import STEREO_PHASES, decoding_with_stereo_phase, stereo_measures  # noqa: E402
from engine.codec.spectral import log_spectral_distance_db, mel_filterbank  # noqa: E402
from engine.dataset.descriptors import frame_descriptors  # noqa: E402
from engine.generate import Generator  # noqa: E402

SAMPLE_RATE = 44100
DB_PER_NAT = 20.0 / np.log(10.0)


def mono_log_mel(audio: np.ndarray, filterbank: torch.Tensor) -> torch.Tensor:
    """(2, n) -> (frames, 64) natural-log mel magnitude of the mono mix (2048-point Hann frames, hop 512)."""
    mono = torch.from_numpy(np.ascontiguousarray(audio.mean(axis=0), dtype=np.float32))
    magnitude = torch.stft(mono, 2048, 512, window=torch.hann_window(2048), return_complex=True).abs()
    return torch.log(magnitude.T @ filterbank.T + 1e-5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=209)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    generator = Generator.load(traced=False)
    shipped = generator.autoencoder.decoder.config
    filterbank = mel_filterbank(2048, 64, SAMPLE_RATE)
    rows = [json.loads(line) for line in (args.dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "test"][:args.clips]
    samples = int(args.seconds * SAMPLE_RATE)
    results: dict[str, dict[str, list[float]]] = {name: {} for name in STEREO_PHASES}
    correlation_in: list[float] = []
    for row in rows:
        audio, _ = soundfile.read(args.dataset / row["path"], dtype="float32", always_2d=True, frames=samples)
        audio = np.ascontiguousarray(audio.T)
        latent = generator.encode(audio)
        correlation, mono_in_db = stereo_measures(audio)
        correlation_in.append(correlation)
        mel_in = mono_log_mel(audio, filterbank)
        loudness_in = frame_descriptors(audio, SAMPLE_RATE)["loudness_db"]
        for name in STEREO_PHASES:
            with decoding_with_stereo_phase(generator.autoencoder, name):
                started = time.perf_counter()
                coded = generator.decode(latent)[:, :audio.shape[1]]
                seconds = time.perf_counter() - started
            n = coded.shape[1]
            correlation, mono_db = stereo_measures(coded)
            mel_out = mono_log_mel(coded, filterbank)
            frames = min(len(mel_in), len(mel_out))
            loudness_out = frame_descriptors(coded, SAMPLE_RATE)["loudness_db"]
            measured = {
                "correlation": correlation,
                "mono_db": mono_db - mono_in_db,
                "log_mel_db": float((mel_out[:frames] - mel_in[:frames]).mean()) * DB_PER_NAT,
                "loudness_db": float(np.mean(loudness_out) - np.mean(loudness_in[:loudness_out.size])),
                "l1_channels_db": log_spectral_distance_db(torch.from_numpy(audio[:, :n]), torch.from_numpy(coded)),
                "l1_mono_db": log_spectral_distance_db(torch.from_numpy(audio[:, :n].mean(0, keepdims=True)),
                                                       torch.from_numpy(coded.mean(0, keepdims=True))),
                "decode_s": seconds,
            }
            for key, value in measured.items():
                results[name].setdefault(key, []).append(value)
    print(f"codec stereo: {len(rows)} test clips of {args.dataset}, first {args.seconds:g} s, "
          f"model {generator.model_id}, {args.threads} threads")
    print(f"| phase | L/R correlation (input {np.mean(correlation_in):.2f}) | mono sum, out - in (dB) | "
          "mono log-mel, out - in (dB) | loudness, out - in (dB) | log-spectral L1 channels / mono (dB) | "
          "decode (ms a clip) |")
    print("|---|---|---|---|---|---|---|")
    for name in STEREO_PHASES:
        r = {key: np.array(values) for key, values in results[name].items()}
        label = f"{name} (shipped)" if name == shipped.decoder_stereo_phase else name
        farthest = r['mono_db'][np.abs(r['mono_db']).argmax()]
        print(f"| {label} | {r['correlation'].mean():.2f} (min {r['correlation'].min():.2f}) | "
              f"{r['mono_db'].mean():+.2f} (farthest {farthest:+.2f}) | {r['log_mel_db'].mean():+.2f} | "
              f"{r['loudness_db'].mean():+.2f} | {r['l1_channels_db'].mean():.2f} / {r['l1_mono_db'].mean():.2f} | "
              f"{1000 * np.median(r['decode_s']):.0f} |")


if __name__ == "__main__":
    main()
