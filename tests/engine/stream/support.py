"""What the stream tests share: test signals and click detectors, a real-time consumer of the dry queue, an
engine on the parameter store, and slowed-down generators."""

from __future__ import annotations

import threading
import time

import numpy as np

from engine.generate import Generator
from engine.stream import DryAudioQueue, EngineConfig, EngineHooks, EngineThread, StreamGeometry
from engine.vocabulary import SAMPLE_RATE
from instrument.session import make_generation_filter, request_from_snapshot
from instrument.parameters import ParameterStore


def sine(seconds: float, hz: float = 220.0, phase: float = 0.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = amplitude * np.sin(2 * np.pi * hz * t + phase)
    return np.stack([wave, wave]).astype(np.float32)


def max_jump(audio: np.ndarray) -> float:
    return float(np.abs(np.diff(audio, axis=-1)).max())


def burst_ratio(audio: np.ndarray, positions: list[int], window: int = 220) -> float:
    """Click detector for noise-like audio: high-frequency energy (second difference) in the 5 ms windows
    at `positions`, over the 99th percentile of that energy in all windows."""
    hf = np.sum(np.diff(audio, n=2, axis=-1) ** 2, axis=0)
    windows = hf[:len(hf) // window * window].reshape(-1, window).sum(axis=1)
    reference = np.percentile(windows, 99)
    at = [hf[max(0, p - window):p + window].sum() / 2 for p in positions]
    return float(max(at) / reference)


class Consumer:
    """Reads the dry queue at the real-time rate, like the output pump (no effects), and keeps the audio."""

    def __init__(self, queue: DryAudioQueue, block: int = 512) -> None:
        self.queue = queue
        self.block = block
        self.parts: list[np.ndarray] = []
        self.short_blocks = 0
        self.markers: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Consumer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start_s, consumed, seen = time.monotonic(), 0, False
        out = np.zeros((2, self.block), np.float32)
        while not self._stop.is_set():
            while consumed + self.block <= (time.monotonic() - start_s) * SAMPLE_RATE:
                got, markers = self.queue.read_into(out)
                seen = seen or got > 0
                self.short_blocks += int(seen and got < self.block)
                self.markers += markers
                self.parts.append(out[:, :got].copy())
                consumed += self.block
            time.sleep(0.002)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts, axis=1) if self.parts else np.zeros((2, 0), np.float32)


def make_engine(generator: Generator, store: ParameterStore, config: EngineConfig | None = None,
                **kwargs: object) -> tuple[EngineThread, DryAudioQueue]:
    queue = DryAudioQueue(SAMPLE_RATE * 20)
    hooks = EngineHooks(request_for=request_from_snapshot, is_generation_change=make_generation_filter(store),
                        **kwargs)  # type: ignore[arg-type]
    engine = EngineThread(generator, store, queue, hooks,
                          config=config or EngineConfig(geometry=StreamGeometry(32, 12, 4)))
    return engine, queue


def playing_store(steps: int = 3) -> ParameterStore:
    store = ParameterStore()
    store.set_prompt_text(0, "warm pad")
    store.set("steps", steps)
    return store


class SlowGenerator(Generator):
    """The debug model made as slow per step as a big one (sleep per step), to exercise adaptive steps."""

    seconds_per_step = 0.04

    def generate_chunk(self, request, window_frames, **kwargs):  # noqa: ANN001, ANN003, ANN201
        time.sleep(self.seconds_per_step * request.steps)
        return super().generate_chunk(request, window_frames, **kwargs)


def _clone(generator: Generator, cls: type[Generator]) -> Generator:
    return cls(generator.autoencoder, generator.network, generator.prompt_encoder, model_id=generator.model_id)
