"""A lead, not shipped: the codec decoder with torch's dynamic int8 Linear layers. Prints a table.

    .venv/bin/python benchmarks/decoder_int8.py

Speed (10 s of noise, 2 threads, the magnitude network and the whole decode, alternated) and the tone set's
pitch error (3-s tones, f0 of the middle half) for the shipped fp32 decoder and its dynamically quantised
copy. Why it is not shipped: dynamic quantisation takes one activation scale per call, so a streamed chunk
and the whole file quantise differently and streaming would no longer equal offline decoding.
"""

from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import median_seconds  # noqa: E402
from engine.codec.checkpoint import load_autoencoder  # noqa: E402
from engine.codec.evaluation import TONE_SET, cents, estimate_f0_hz, harmonic_tone  # noqa: E402
from engine.vocabulary import SAMPLE_RATE  # noqa: E402


def _pitch_errors(model) -> np.ndarray:
    errors = []
    for tone in TONE_SET:
        audio = harmonic_tone(tone.f0_hz, tone.timbre, 3.0)
        audio = np.ascontiguousarray(audio[:, :audio.shape[1] // 1024 * 1024], dtype=np.float32)
        with torch.no_grad():
            out = model.decode(model.encode(torch.from_numpy(audio)[None]))[0, 0].numpy()
        middle = out[out.shape[0] // 4: 3 * out.shape[0] // 4]
        errors.append(abs(cents(estimate_f0_hz(middle, SAMPLE_RATE, tone.f0_hz), tone.f0_hz)))
    return np.array(errors)


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    fp32 = load_autoencoder()
    int8 = copy.deepcopy(fp32)
    int8.decoder = torch.ao.quantization.quantize_dynamic(int8.decoder, {torch.nn.Linear}, dtype=torch.qint8)
    audio = torch.randn(1, 2, 430 * 1024) * 0.1
    seconds = audio.shape[-1] / SAMPLE_RATE
    with torch.no_grad():
        latent = fp32.encode(audio)
        difference = (fp32.decoder.log_magnitude(latent) - int8.decoder.log_magnitude(latent)).abs()
        speeds: dict[str, list[tuple[float, float]]] = {"fp32": [], "int8": []}
        for _ in range(2):
            for name, model in (("fp32", fp32), ("int8", int8)):
                net = median_seconds(lambda: model.decoder.log_magnitude(latent))
                whole = median_seconds(lambda: model.decode(latent))
                speeds[name].append((1000 * net / seconds, seconds / whole))
    print(f"log-magnitude difference int8 - fp32: mean {difference.mean():.4f}, max {difference.max():.3f} nats")
    print("| decoder | magnitude net ms per s (2 threads) | whole decode x real time | tone set median / worst "
          "cents | within 10 cents |")
    print("|---|---|---|---|---|")
    for name, model in (("fp32", fp32), ("int8", int8)):
        errors = _pitch_errors(model)
        net = " / ".join(f"{a:.1f}" for a, _ in speeds[name])
        whole = " / ".join(f"{b:.0f}" for _, b in speeds[name])
        print(f"| {name} | {net} | {whole} | {np.median(errors):.1f} / {errors.max():.0f} | "
              f"{int((errors <= 10).sum())}/{len(errors)} |")


if __name__ == "__main__":
    main()
