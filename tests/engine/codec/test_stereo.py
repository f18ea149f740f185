"""The shipped codec keeps a mix's channels together: the latent holds magnitudes only, so the decoder gives both
channels one phase, integrated from their mean magnitude (`decoder_stereo_phase="shared"`). Integrated per channel
(codecs v2.0-v2.4 until session 25), the quiet and noisy bins took independent random phases: a level-panned mix
came back with its channels nearly uncorrelated and its mono sum several dB quieter (docs/autoencoder.md)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pedalboard
import pytest
import torch

from engine.codec.checkpoint import load_autoencoder
from engine.codec.evaluation import harmonic_tone
from engine.codec.model import AutoencoderConfig, MagnitudeAutoencoder
from engine.codec.stereo import decoding_with_stereo_phase, stereo_measures

SR = 44100
SECONDS = 3.0


def level_panned_mix() -> np.ndarray:
    """(2, n) float32: a saw chord panned left by level, a decaying noise hat every 1/4 s panned right, in a
    stereo reverb (as the dataset's mixes have: it decorrelates the channels' tails a little)."""
    chord = sum(harmonic_tone(f0, "saw", SECONDS, seed=i)[0] for i, f0 in enumerate((196.0, 246.9, 293.7)))
    n = chord.size - chord.size % 1024
    rng = np.random.default_rng(0)
    hats = np.zeros(n, dtype=np.float32)
    decay = np.exp(-np.arange(2000) / 300.0).astype(np.float32)
    for start in range(0, n - 2000, SR // 4):
        hats[start:start + 2000] += rng.standard_normal(2000).astype(np.float32) * decay * 0.3
    left = chord[:n] + 0.4 * hats
    right = 0.5 * chord[:n] + hats
    room = pedalboard.Pedalboard([pedalboard.Reverb(room_size=0.6, wet_level=0.2, dry_level=0.8, width=1.0)])
    return room(np.stack([left, right]).astype(np.float32), SR).astype(np.float32)


def _round_trip(model: MagnitudeAutoencoder, audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.decode(model.encode(torch.from_numpy(audio)[None]))[0].numpy()


@pytest.fixture(scope="module")
def shipped() -> MagnitudeAutoencoder:
    return load_autoencoder()


def test_a_level_panned_mix_keeps_its_channels_correlated_and_its_mono_sum(shipped: MagnitudeAutoencoder) -> None:
    mix = level_panned_mix()
    correlation_in, mono_in_db = stereo_measures(mix)
    assert shipped.config.decoder_stereo_phase == "shared"
    correlation, mono_db = stereo_measures(_round_trip(shipped, mix))
    # session 25: in 0.90 / -0.52 dB, out 0.99 / -0.04 dB (per channel: 0.20 / -2.23 dB)
    assert correlation > correlation_in - 0.15
    assert abs(mono_db - mono_in_db) < 1.0
    # the same weights with each channel's phase integrated on its own: what the codec did before
    with decoding_with_stereo_phase(shipped, "per_channel"):
        correlation_apart, mono_apart_db = stereo_measures(_round_trip(shipped, mix))
    assert shipped.decoder.config.decoder_stereo_phase == "shared"  # the setting restored after the block
    assert correlation_apart < correlation - 0.3 and mono_apart_db < mono_db - 1.0


def test_the_setting_is_checked_and_files_without_it_share_the_phase() -> None:
    with pytest.raises(ValueError, match="decoder_stereo_phase"):
        replace(AutoencoderConfig(), decoder_stereo_phase="mid-side").validate()
    old = {k: v for k, v in AutoencoderConfig().to_dict().items() if k != "decoder_stereo_phase"}
    assert AutoencoderConfig.from_dict(old).decoder_stereo_phase == "shared"
