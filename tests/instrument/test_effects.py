"""Live effects: blockwise == whole, parameters act on the next block, NaN never poisons the tails."""

from __future__ import annotations

import numpy as np

from instrument.effects import EffectsChain, delay_seconds
from instrument.parameters import ParameterStore


def noise_burst(seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    audio = np.zeros((2, int(seconds * 44100)), np.float32)
    audio[:, :4410] = 0.3 * rng.standard_normal((2, 4410))
    return audio


def chain_with(**values: float) -> EffectsChain:
    store = ParameterStore()
    for name, value in values.items():
        store.set(name, value)
    chain = EffectsChain()
    chain.update(store.snapshot().values)
    return chain


def test_delay_time_follows_tempo() -> None:
    assert delay_seconds("3/8", 120.0) == 0.75
    assert delay_seconds("1/4", 90.0) == 60.0 / 90.0


def test_blockwise_equals_whole() -> None:
    audio = noise_burst()
    settings = {"fx_reverb_mix": 0.4, "fx_delay_mix": 0.3, "fx_chorus_mix": 0.3, "fx_filter_cutoff_hz": 3000.0,
                "fx_compressor_threshold_db": -20.0}
    whole = chain_with(**settings).process(audio)
    chain = chain_with(**settings)
    blocks = [chain.process(audio[:, i:i + 512]) for i in range(0, audio.shape[1], 512)]
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), whole, atol=1e-5)


def test_reverb_mix_changes_the_next_block() -> None:
    audio = noise_burst(1.0)
    dry = chain_with(fx_reverb_mix=0.0).process(audio)
    wet = chain_with(fx_reverb_mix=0.8).process(audio)
    tail = slice(8820, 44100)  # after the burst: only reverb rings
    assert np.sqrt(np.mean(wet[:, tail] ** 2)) > 10 * np.sqrt(np.mean(dry[:, tail] ** 2)) + 1e-6


def test_limiter_tames_a_sustained_hot_signal() -> None:
    # 6 dB over full scale; the limiter settles within 50 ms (the output callback's ceiling catches the rest).
    t = np.arange(44100) / 44100
    audio = np.stack([2.0 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    out = chain_with(fx_reverb_mix=0.0).process(audio)
    assert np.abs(out[:, 2205:]).max() < 10 ** (-0.5 / 20)
    without = chain_with(fx_reverb_mix=0.0, fx_limiter_enabled=0).process(audio)
    assert np.abs(without[:, 2205:]).max() > 1.1  # only the 0 dB, 3:1 compressor acts


def test_nan_input_does_not_poison_the_tails() -> None:
    chain = chain_with(fx_reverb_mix=0.6, fx_delay_mix=0.5)
    chain.process(noise_burst(0.5))
    poisoned = np.full((2, 512), np.nan, np.float32)
    out = chain.process(poisoned)
    assert np.all(np.isfinite(out)) and chain.nonfinite_blocks == 1
    later = chain.process(np.zeros((2, 44100), np.float32))
    assert np.all(np.isfinite(later))
