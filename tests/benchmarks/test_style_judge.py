"""The quality benchmark's style judge: it hears groove (not only timbre) and ignores the key."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.style_judge import SAMPLE_RATE, StyleJudge

SECONDS = 4.0


def _clip(groove: str, tonic_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A sustained major triad on `tonic_hz` over kicks: "steady" one every 0.5 s, "paired" two 0.25 s
    apart every 1.0 s: the same kicks per second and the same sounds, only the periodicity differs."""
    t = np.arange(int(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    pad = sum(0.05 * np.sin(2 * np.pi * tonic_hz * ratio * t + rng.uniform(0, 6.3)) for ratio in (1.0, 1.26, 1.5))
    period = 0.5 * rng.uniform(0.97, 1.03)
    starts = (np.arange(0.0, SECONDS, period) if groove == "steady"
              else np.concatenate([np.arange(0.0, SECONDS, 2 * period), np.arange(0.25, SECONDS, 2 * period)]))
    kick = np.zeros_like(t)
    burst = np.sin(2 * np.pi * 60 * t[:4410]) * np.exp(-t[:4410] * 30) + 0.3 * rng.standard_normal(4410) * np.exp(-t[:4410] * 200)
    for start in starts + rng.uniform(0, 0.01):
        i = int(start * SAMPLE_RATE)
        kick[i:i + burst.size] += burst[:max(0, min(burst.size, kick.size - i))]
    mono = (pad + 0.5 * kick).astype(np.float32)
    return np.stack([mono, mono])


@pytest.fixture(scope="module")
def fitted() -> StyleJudge:
    rng = np.random.default_rng(0)
    judge = StyleJudge(["paired", "steady"])
    audio, labels = [], []
    for index in range(24):
        groove = ("paired", "steady")[index % 2]
        audio.append(_clip(groove, float(rng.choice([196.0, 220.0, 246.9])), rng))
        labels.append(index % 2)
    judge.fit(np.stack([judge.features(a) for a in audio]), np.array(labels))
    return judge


def test_judge_tells_grooves_apart_in_unheard_keys(fitted: StyleJudge) -> None:
    rng = np.random.default_rng(1)
    grooves = ["paired", "steady"] * 6
    # keys the judge never heard: C#, E-flat and F
    clips = [_clip(g, float(rng.choice([277.2, 311.1, 349.2])), rng) for g in grooves]
    predicted = fitted.predict(np.stack([fitted.features(c) for c in clips]))
    assert np.mean(predicted == np.array([fitted.styles.index(g) for g in grooves])) >= 0.9


def test_features_have_one_length_for_any_duration() -> None:
    judge = StyleJudge(["a", "b"])
    rng = np.random.default_rng(2)
    lengths = {judge.features(rng.standard_normal((2, n)).astype(np.float32)).size for n in (1500, 44100, 300000)}
    assert len(lengths) == 1
    assert StyleJudge(["a"], "log-mel").features(np.zeros((2, 44100), np.float32)).size == 128


def test_judge_refuses_unknown_feature_set_and_predicting_unfitted() -> None:
    with pytest.raises(ValueError, match="feature_set"):
        StyleJudge(["a"], "mfcc")
    with pytest.raises(RuntimeError, match="fit"):
        StyleJudge(["a", "b"]).predict(np.zeros((1, 10)))
