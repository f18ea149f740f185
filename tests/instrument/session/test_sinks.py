"""The OutputSink Protocol the session plays through, and the software clock (instrument.session.sinks)."""

from __future__ import annotations


from instrument.output import AudioOutput
from instrument.ringbuffer import AudioRingBuffer
from instrument.session import OutputSink, PacedSink
from tests.helpers import wait_for


def test_the_software_clock_and_an_in_process_stream_are_output_sinks() -> None:
    ring = AudioRingBuffer(16384, 2)
    assert isinstance(PacedSink(ring), OutputSink)
    assert isinstance(AudioOutput(ring), OutputSink)  # not started: no device touched
    # (OutputProcess: tests/instrument/session/test_live_session.py, where a JACK server runs.)


def test_the_software_clock_consumes_the_ring_in_real_time_and_is_never_lost() -> None:
    ring = AudioRingBuffer(16384, 2)
    sink = PacedSink(ring, 44100, 512)
    assert sink.play_anchor is None and sink.check_lost() is None
    assert (sink.nonfinite_blocks, sink.shadow_callbacks, sink.shadow_frames) == (0, 0, 0)
    sink.start()
    try:
        assert sink.play_anchor is not None and sink.play_anchor[1] == 0
        assert wait_for(lambda: sink.callbacks >= 4, 5.0)
        assert sink.underruns > 0, "an empty ring: silence, counted"
        assert sink.check_lost() is None
    finally:
        sink.stop()
    assert not sink.active
