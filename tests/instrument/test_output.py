"""Ring buffer and the PortAudio output, played for real into a JACK server and captured with jack_rec."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile

from instrument.output import CEILING, AudioOutput, choose_output_device
from instrument.ringbuffer import AudioRingBuffer


def test_ring_buffer_wraps_and_zero_fills() -> None:
    ring = AudioRingBuffer(8, channels=2)
    block = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert ring.write(block) == 6
    out = np.empty((4, 2), np.float32)
    assert ring.read_into(out) == 4
    np.testing.assert_array_equal(out, block[:4])
    assert ring.write(block) == 6  # wraps around the end
    assert ring.write(block) == 0  # full
    out = np.full((10, 2), 7.0, np.float32)
    assert ring.read_into(out) == 8
    np.testing.assert_array_equal(out[:2], block[4:6])
    np.testing.assert_array_equal(out[2:8], block)
    assert not out[8:].any(), "a shortfall is silence"
    assert ring.frames_read == 12 and ring.fill_frames == 0


def test_ring_buffer_threads_keep_order() -> None:
    ring = AudioRingBuffer(1000, channels=1)
    total = 200_000
    received: list[np.ndarray] = []

    def producer() -> None:
        sent = 0
        while sent < total:
            chunk = np.arange(sent, min(total, sent + 377), dtype=np.float32)[:, None]
            sent += ring.write(chunk)

    thread = threading.Thread(target=producer)
    thread.start()
    got = 0
    out = np.empty((256, 1), np.float32)
    while got < total:
        n = ring.read_into(out)
        received.append(out[:n, 0].copy())
        got += n
    thread.join()
    np.testing.assert_array_equal(np.concatenate(received), np.arange(total, dtype=np.float32))


def test_a_consumer_may_skip_past_the_producer_and_peek_ahead() -> None:
    ring = AudioRingBuffer(16, channels=1)
    ring.write(np.arange(6, dtype=np.float32)[:, None])
    ahead = np.full((4, 1), -1.0, np.float32)
    assert ring.peek_into(3, ahead) == 3 and ahead[:3, 0].tolist() == [3, 4, 5] and ahead[3, 0] == -1.0
    assert ring.frames_read == 0, "peeking consumes nothing"
    ring.skip_to(9)  # frames 6..8 were played from elsewhere
    assert ring.fill_frames == 0 and ring.peek_into(3, ahead) == 0
    ring.write(np.arange(6, 12, dtype=np.float32)[:, None])  # 6..8 arrive late: never read
    out = np.zeros((8, 1), np.float32)
    assert ring.read_into(out) == 3 and out[:3, 0].tolist() == [9, 10, 11], "positions stay where they were"
    ring.skip_to(5)
    assert ring.frames_read == 12, "never back"


def _status(underflow: bool = False) -> SimpleNamespace:
    return SimpleNamespace(output_underflow=underflow)


def test_callback_guards_nan_bursts_and_counts_underruns() -> None:
    ring = AudioRingBuffer(4096)
    output = AudioOutput(ring)
    out = np.empty((256, 2), np.float32)
    burst = np.full((256, 2), 4.0, np.float32)
    ring.write(burst)
    output._callback(out, 256, None, _status())
    assert np.abs(out).max() <= CEILING
    poisoned = np.zeros((256, 2), np.float32)
    poisoned[10, 1] = np.nan
    poisoned[20, 0] = np.inf
    ring.write(poisoned)
    output._callback(out, 256, None, _status())
    assert np.all(np.isfinite(out)) and output.nonfinite_blocks == 1
    output._callback(out, 256, None, _status())
    assert output.underruns == 1 and not out.any()


def test_callback_plays_the_shadow_where_the_ring_falls_short_and_skips_the_ring_past_it() -> None:
    ring, shadow = AudioRingBuffer(4096), AudioRingBuffer(4096)
    output = AudioOutput(ring, shadow=shadow)
    stream = np.linspace(-0.5, 0.5, 2048, dtype=np.float32)[:, None].repeat(2, axis=1)
    ring.write(stream[:300])
    shadow.write(stream[:1200])  # the shadow chain runs further ahead over the same frames
    out = np.empty((256, 2), np.float32)
    played = []
    for _ in range(4):
        output._callback(out, 256, None, _status())
        played.append(out.copy())
    assert output.underruns == 0 and output.shadow_callbacks == 3 and output.shadow_frames == 1024 - 300
    np.testing.assert_array_equal(np.concatenate(played), stream[:1024], "no frame lost, none repeated")
    assert output.shadow_span == (300, 1024) and ring.frames_read == shadow.frames_read == 1024
    ring.write(stream[300:1280])  # the pump comes back: the frames the shadow played are skipped
    output._callback(out, 256, None, _status())
    np.testing.assert_array_equal(out, stream[1024:1280])
    assert output.shadow_callbacks == 3 and shadow.frames_read == 1280
    output._callback(out, 256, None, _status())  # both empty now: an underrun, the playhead waits
    assert output.underruns == 1 and not out.any() and ring.frames_read == 1280


def test_master_gain_is_smoothed() -> None:
    ring = AudioRingBuffer(44100)
    output = AudioOutput(ring, gain_smoothing_seconds=0.01)
    ring.write(np.full((2048, 2), 0.5, np.float32))
    output.set_gain_db(-60.0)
    out = np.empty((1024, 2), np.float32)
    output._callback(out, 1024, None, _status())
    steps = np.abs(np.diff(out[:, 0]))
    assert steps.max() < 0.5 / 441 * 1.01, "gain moves at most 1/441 per frame (10 ms ramp)"
    assert out[-1, 0] < 0.001


def test_plays_into_jack_and_jack_rec_captures_it(jack_server, tmp_path: Path) -> None:
    device = choose_output_device()
    assert device is not None and "JACK" in device.host_api
    sample_rate = jack_server.sample_rate
    seconds = 3.0
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = (0.25 * np.sin(2 * np.pi * 441.0 * t)).astype(np.float32)
    ring = AudioRingBuffer(int(seconds * sample_rate) + 1024)
    ring.write(np.stack([tone, tone], axis=1))
    output = AudioOutput(ring, sample_rate=sample_rate, device=device)
    output.start()
    try:
        time.sleep(0.2)
        ours = [p for p in jack_server.ports() if p.startswith("PortAudio") or "Cascade" in p]
        ours = [p for p in ours if "out" in p.lower()][:2]
        assert len(ours) == 2, jack_server.ports()
        capture = tmp_path / "capture.wav"
        subprocess.run(["jack_rec", "-f", str(capture), "-d", "1", "-b", "32", *ours], check=True, timeout=20,
                       capture_output=True)
    finally:
        output.stop()
    audio, rate = soundfile.read(capture, always_2d=True)
    assert rate == sample_rate and audio.shape[1] == 2 and len(audio) > 0.8 * sample_rate
    assert np.all(np.isfinite(audio))
    assert 0.15 < np.abs(audio).max() < 1.0, "non-silent and under full scale"
    spectrum = np.abs(np.fft.rfft(audio[:, 0] * np.hanning(len(audio))))
    peak_hz = np.argmax(spectrum) * sample_rate / len(audio)
    assert abs(peak_hz - 441.0) < 3.0
    assert output.callbacks > 10 and output.nonfinite_blocks == 0
