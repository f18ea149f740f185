"""The live instrument end to end on the tiny random debug model: parameters -> engine -> feeder -> effects
pump -> ring -> a real output (a JACK dummy server captured with jack_rec, or the software clock),
MIDI over a virtual JACK port, takes and their re-render. No mocks of the audio or MIDI layer."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile

from engine.debug_models import debug_generator
from engine.generate import Generator
from engine.stream import EngineConfig, StreamGeometry
from engine.vocabulary import KEY_TONICS
from instrument.effects_pump import VERY_LONG_WAKE_GAPS, PumpConfig
from instrument.output_process import OutputProcess, PreparedOutput
from instrument.parameters import ParameterStore
from instrument.session import LiveSession, OutputSink, PacedSink, TakeError, read_take_log, rerender_take
from instrument.session.prompt_settings import WORDS_SOURCE, PromptSettingsFollower
from instrument.takes import read_take_audio
from tests.helpers import jack_ports, killable_jackd, wait_for

RATE = 44100
HOP = 1024
GEOMETRY = StreamGeometry(32, 12, 4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/instrument/session/conftest.py


@pytest.fixture(scope="module")
def generator() -> Generator:
    return debug_generator(0)


def playing_store() -> ParameterStore:
    store = ParameterStore()
    store.set_prompt_text(0, "warm analog pad")
    store.set("steps", 3)
    return store


def session(generator: Generator, store: ParameterStore, output: str = "none", **kwargs: object) -> LiveSession:
    return LiveSession(generator, store, engine_config=EngineConfig(geometry=GEOMETRY), output=output, **kwargs)


# --- a session without an audio device ----------------------------------------------------------------------


def test_plays_without_a_device_and_records_a_take_that_rerenders(generator: Generator, tmp_path: Path) -> None:
    store = playing_store()
    live = session(generator, store)
    follower = PromptSettingsFollower(store)  # as the store's owner (the app, `cascade play`) starts one
    follower.start()
    live.start()
    try:
        take = live.start_recording(tmp_path, "take")
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None)
        time.sleep(0.8)
        store.set("cfg_scale", 9.0)  # a generation change, heard at the next chunk (or sooner)
        store.set("fx_filter_cutoff_hz", 300.0)  # an effect, heard within a few blocks
        assert wait_for(lambda: live.status().control_latency_seconds is not None, timeout_s=3.0)
        # a morph to a prompt whose words state a tempo and key: the knobs follow its words
        store.set_prompt_text(1, "breakbeat at 140 bpm in F minor", "gui")
        store.set("xy_x", 1.0, "gui")
        assert store.get("tempo_bpm") == 140.0 and KEY_TONICS[int(store.get("key"))] == "F"
        time.sleep(0.5)
        status = live.status()
    finally:
        live.stop()
        follower.stop()
    assert status.output.startswith("no audio device") and status.start_to_first_sound_seconds < 3.0
    assert status.engine.real_time_factor < 1.0 and status.buffer_fill_seconds > 0.2
    assert status.output_underruns == 0 and status.dry_underruns == 0 and status.engine.errors == 0
    assert 0 < status.control_latency_seconds < 1.5
    assert 0 < status.effect_latency_seconds < 0.1
    audio, rate = read_take_audio(take.audio_path)
    assert rate == RATE and audio.shape[1] > RATE and np.isfinite(audio).all()
    assert 0.001 < np.abs(audio).max() < 1.0, "non-silent, under 0 dBFS"
    log = read_take_log(take.sidecar_path)
    assert log.sidecar["state"] == "complete" and log.sidecar["model_id"] == generator.model_id
    assert any(r["request"]["cfg_scale"] == 9.0 for r in log.records if r["kind"] == "chunk")
    assert any(e["name"] == "fx_filter_cutoff_hz" for e in log.parameter_events)
    assert any(e["name"] == "tempo_bpm" and e["value"] == 140.0 and e["source"] == WORDS_SOURCE
               for e in log.parameter_events)
    # The same steps re-render the performance exactly (seeds, chunk layout, knob moves, effects)...
    same = rerender_take(take.sidecar_path, generator, tmp_path / "same.flac", steps=None)
    again, _ = read_take_audio(tmp_path / "same.flac")
    assert same["frames"] == audio.shape[1]
    np.testing.assert_allclose(again, audio, atol=2e-6)  # 24-bit FLAC both times
    # ... and more steps render the same timeline at another quality.
    rerender_take(take.sidecar_path, generator, tmp_path / "more.flac", steps=6)
    more, _ = read_take_audio(tmp_path / "more.flac")
    assert more.shape == audio.shape and np.isfinite(more).all() and not np.allclose(more, audio, atol=1e-3)
    # A take decodes as it was played: one from before the codec shared its channels' phase (no such key) is
    # re-rendered with each channel's own phase, and the setting is restored afterwards.
    assert log.sidecar["engine"]["stereo_phase"] == "shared"
    sidecar = json.loads(take.sidecar_path.read_text())
    del sidecar["engine"]["stereo_phase"]
    take.sidecar_path.write_text(json.dumps(sidecar))
    old = rerender_take(take.sidecar_path, generator, tmp_path / "old.flac", steps=None)
    played_apart, _ = read_take_audio(tmp_path / "old.flac")
    assert old["stereo_phase"] == "per_channel" and not np.allclose(played_apart, audio, atol=1e-3)
    assert generator.autoencoder.decoder.config.decoder_stereo_phase == "shared"
    sidecar["engine"]["stereo_phase"] = "mid-side"
    take.sidecar_path.write_text(json.dumps(sidecar))
    with pytest.raises(TakeError, match="stereo phase"):
        rerender_take(take.sidecar_path, generator, tmp_path / "bad.flac", steps=None)


# --- JACK: a real audio graph and real MIDI ports -------------------------------------------------------------


def _click_ratio(audio: np.ndarray, window: int = 220) -> float:
    """Largest 5 ms burst of high-frequency energy over the 99th percentile of all windows."""
    hf = np.sum(np.diff(audio, n=2, axis=0) ** 2, axis=1)
    windows = hf[:len(hf) // window * window].reshape(-1, window).sum(axis=1)
    return float(windows.max() / np.percentile(windows, 99))


def test_plays_into_jack_and_jack_rec_captures_it(jack_server, generator: Generator, tmp_path: Path) -> None:
    store = playing_store()
    live = session(generator, store, output="auto", pump_config=PumpConfig())
    assert live.device is not None and "JACK" in live.device.host_api
    live.start()
    try:
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None)
        ours = [p for p in jack_server.ports() if (p.startswith("PortAudio") or "Cascade" in p) and "out" in p.lower()]
        assert len(ours) >= 2, jack_server.ports()
        capture = tmp_path / "capture.wav"
        subprocess.run(["jack_rec", "-f", str(capture), "-d", "2", "-b", "32", *ours[:2]], check=True, timeout=30,
                       capture_output=True)
        status = live.status()
    finally:
        live.stop()
    audio, rate = soundfile.read(capture, always_2d=True)
    assert rate == jack_server.sample_rate and len(audio) > 1.5 * rate
    assert np.all(np.isfinite(audio)) and 0.001 < np.abs(audio).max() < 1.0
    assert _click_ratio(audio) < 3.0, "no click bursts in what JACK played"
    assert status.nonfinite_blocks == 0 and status.engine.chunks >= 2
    assert status.output_underruns <= 2, f"{status.output_underruns} underruns on the dummy server"


def test_an_output_process_started_early_is_adopted_and_plays_a_mismatched_one_is_stopped(
        jack_server, generator: Generator) -> None:
    """The app spawns its output process before the model loads: the session takes it over (no second
    spawn) and plays through it; one prepared for another output block size is stopped, not leaked."""
    prepared = PreparedOutput.start("auto")
    assert prepared.process is not None and prepared.process.device is not None, prepared.error
    live = session(generator, playing_store(), output="auto", prepared_output=prepared)
    assert live.sink is prepared.process and live.device is not None and "JACK" in live.device.host_api
    assert isinstance(live.sink, OutputSink), "an output process is an OutputSink"
    live.start()
    try:
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None)
        assert wait_for(lambda: live.sink.peak > 0.0)
    finally:
        live.stop()
    assert not prepared.process.alive, "stopped with its session"
    other = PreparedOutput.start("auto", output_block_frames=4096)
    assert other.process is not None and other.process.alive
    live = session(generator, playing_store(), output="auto", prepared_output=other)
    try:
        assert live.sink is not other.process and isinstance(live.sink, OutputProcess)
        assert wait_for(lambda: not other.process.alive, 5.0), "the unmatched child was stopped"
    finally:
        live.stop()


def test_midi_cc_over_jack_moves_parameters_and_the_audio(virtual_out, generator: Generator, tmp_path: Path) -> None:
    from instrument.midi import CcMapping, MidiClock, MidiMapper, open_midi_input

    store = playing_store()
    mapper = MidiMapper(store, [CcMapping(None, 21, "fx_filter_cutoff_hz"), CcMapping(None, 22, "cfg_scale")])
    clock = MidiClock(store)
    midi = open_midi_input("Ctl:knobs", mapper=mapper, clock=clock)
    live = session(generator, store, midi_clock=clock)
    live.start()
    try:
        take = live.start_recording(tmp_path, "midi")
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None)
        time.sleep(0.8)
        moved_frame = live.pump.take_frames
        virtual_out.send_message([0xB0, 21, 0])  # filter fully closed: 20 Hz
        virtual_out.send_message([0xB0, 22, 127])  # guidance to the top: 12
        assert wait_for(lambda: store.get("cfg_scale") == 12.0 and store.get("fx_filter_cutoff_hz") == 20.0)
        assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 12.0 for r in live.engine.records))
        time.sleep(0.8)
        status = live.status()
    finally:
        live.stop()
        midi.close()
    assert status.effect_latency_seconds is not None and status.effect_latency_seconds < 0.1
    audio, _ = read_take_audio(take.audio_path)
    high = lambda x: float(np.mean(np.diff(x, axis=-1) ** 2))  # noqa: E731
    before = audio[:, moved_frame - RATE // 2:moved_frame]
    after = audio[:, moved_frame + RATE // 4:]
    assert high(after) < 0.01 * high(before), "the CC closed the filter: the highs are gone"
    events = read_take_log(take.sidecar_path).parameter_events
    assert {"cfg_scale", "fx_filter_cutoff_hz"} <= {e["name"] for e in events if e["source"] == "midi"}


def _gil_burst(seconds: float) -> Callable[[], None]:
    """A call that holds the GIL for about `seconds` (list.sort of floats never lets it go), calibrated here."""
    rng = np.random.default_rng(0)
    data = list(rng.random(50_000))
    for _ in range(4):  # sorting is n log n: rescale until a burst takes what was asked
        timings = []
        for _ in range(3):
            start_s = time.perf_counter()
            sorted(data)
            timings.append(time.perf_counter() - start_s)
        data = list(rng.random(int(len(data) * seconds / min(timings))))
    return lambda: sorted(data) and None


@pytest.mark.parametrize("isolated", [True, False], ids=["output-process", "in-process"])
def test_main_process_gil_stalls_reach_the_feeder_not_the_effects_pump(jack_server, generator: Generator,
                                                                       isolated: bool) -> None:
    """The main process holds its GIL for ~30 ms, 30 times (as a torch trace or a full GC pass did). With the
    effects pump in the output process the stalls land on the feeder, whose dry lead (35 ms) absorbs them,
    and the pump keeps its rhythm (counted: its absences over 20 ms). In one process (a software clock here)
    the same stalls keep the pump away once per burst: the test can tell the two apart."""
    live = session(generator, playing_store(), output="auto" if isolated else "none")
    assert isinstance(live.sink, OutputProcess) == isolated
    burst = _gil_burst(0.03)
    long_gaps = lambda: int(live._memory.pump.slots[VERY_LONG_WAKE_GAPS])  # noqa: E731 - pump absences > 20 ms
    live.start()
    try:
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None, 20.0)
        time.sleep(0.3)
        gaps_before = long_gaps()
        for _ in range(30):
            burst()
            time.sleep(0.07)
        status, gaps = live.status(), long_gaps() - gaps_before
    finally:
        live.stop()
    assert status.feeder_max_wake_gap_seconds >= 0.025, "the bursts held the main process's GIL"
    if isolated:
        # An absence over 20 ms can happen anyway on a shared VM (the hypervisor takes the CPU away, measured up
        # to 16 % of it during this test): a few, not one per burst.
        assert gaps <= 8, f"{gaps} pump absences over 20 ms during 30 bursts"
        assert status.dry_lead_seconds <= 4096 / RATE
    else:
        assert gaps >= 25, f"in one process the pump waits for the GIL too: only {gaps} absences over 20 ms"


def test_midi_clock_phase_sets_each_chunks_beat_offset(generator: Generator) -> None:
    from instrument.midi import MidiClock

    store = playing_store()
    clock = MidiClock(store)
    last_tick_s = time.monotonic()
    clock.handle([0xFA], last_tick_s - 1.1)  # start: the next tick is beat 0
    for tick in range(49):  # two beats at 120 BPM, the last tick just now
        clock.handle([0xF8], last_tick_s - (48 - tick) * 0.5 / 24)
    assert clock.running and clock.position_ticks == 48 and store.get("tempo_bpm") == pytest.approx(120.0, abs=0.5)
    live = session(generator, store, midi_clock=clock)
    tempo = clock.tempo_bpm
    latency_s = live.pump.latency_samples / RATE
    # Before the output plays, the sample heard now is the pump's position (0) minus what waits in front of the
    # output; the clock is at beat 2 now. The model's beat clock runs from stream time, so the offset is the
    # external beat at stream sample 0: 2 + latency x 2 beats/s (+ the moments this test took since the tick).
    offset = live._beat_offset(RATE)
    elapsed_s = time.monotonic() - last_tick_s
    assert offset == pytest.approx(2 + latency_s * tempo / 60 + elapsed_s, abs=elapsed_s + 1e-3)
    grid = live.bar_grid()
    assert grid is not None and grid.beats_per_bar == 4
    assert grid.beats_per_sample == pytest.approx(tempo / 60 / RATE)
    clock.handle([0xFC], time.monotonic())
    assert live._beat_offset(RATE) is None and live.bar_grid() is None, "a stopped clock: the engine's own clock"


# --- the audio server dies mid-stream ------------------------------------------------------------------------


def _capture(server: str, seconds: float, path: Path) -> np.ndarray:
    ours = [p for p in jack_ports(server) if p.startswith("PortAudio") and "out" in p.lower()][:2]
    assert len(ours) == 2, jack_ports(server)
    subprocess.run(["jack_rec", "-f", str(path), "-d", str(seconds), "-b", "32", *ours], check=True, timeout=30,
                   capture_output=True, env=os.environ | {"JACK_DEFAULT_SERVER": server})
    return soundfile.read(path, always_2d=True)[0]


def test_jack_server_killed_mid_stream_engine_and_take_go_on_output_resumes(
        generator: Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The output process finds the server through JACK_DEFAULT_SERVER, which killable_jackd sets.
    with killable_jackd(monkeypatch, "cascade-lost") as jack:
        store = playing_store()
        # The performer's own "reopen" (auto-reconnect: tests/instrument/test_output_reconnect.py).
        live = session(generator, store, output="auto", auto_reconnect=False)
        assert live.device is not None and "JACK" in live.device.host_api
        child = live.sink
        live.start()
        try:
            take = live.start_recording(tmp_path, "lost")
            recording_s = time.monotonic()
            assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None, 10.0)
            assert wait_for(lambda: child.callbacks > 40, 10.0), "playing into JACK"
            before = live.status()
            assert not before.output_lost and "JACK" in before.output
            jack.kill()  # the audio server crashes under the running stream
            assert wait_for(lambda: live.status().output_lost, 10.0), "the loss is reported"
            lost = live.status()
            assert lost.output.startswith("software clock (output lost") and lost.output_losses == 1
            assert "stopped" in lost.output_lost_reason or "callbacks" in lost.output_lost_reason
            with pytest.raises(ProcessLookupError):  # the output process is gone (reaped), we are not
                os.kill(child.pid, 0)
            # The engine and the take keep going on the software clock.
            frames, chunks = live.pump.take_frames, lost.engine.chunks
            assert wait_for(lambda: live.pump.take_frames > frames + RATE, 10.0)
            assert wait_for(lambda: live.status().engine.chunks > chunks + 1, 10.0)
            # Asked while no server runs: it says so and stays on the clock. ("system" is JACK's device: "auto"
            # could pick an ALSA card on a machine that has one.)
            assert live.restart_output("system") is False and live.status().output_lost
            assert "system" in live.output_error
            # The server comes back (same name: that also frees the crashed one's entry in JACK's registry);
            # asked, the output resumes on it.
            jack.restart()
            assert live.restart_output(), live.output_error
            resumed = live.status()
            assert not resumed.output_lost and "JACK" in resumed.output and resumed.output_losses == 1
            assert wait_for(lambda: live.sink.callbacks > 20, 10.0)
            audio = _capture(jack.name, 1.0, tmp_path / "after.wav")
            final = live.status()
        finally:
            live.stop()
        stopped_s = time.monotonic()
    assert np.all(np.isfinite(audio)) and 0.001 < np.abs(audio).max() < 1.0, "the restarted server plays our audio"
    assert final.engine.errors == 0 and final.nonfinite_blocks == 0
    recorded, _ = read_take_audio(take.audio_path)
    assert read_take_log(take.sidecar_path).sidecar["state"] == "complete"
    assert np.isfinite(recorded).all() and np.abs(recorded).max() > 0.001
    # The take kept real time through the loss (less the moments the ring waited for a new output).
    assert recorded.shape[1] > 0.7 * (stopped_s - recording_s) * RATE


# --- MIDI clock: joins and prompt morphs on bar lines --------------------------------------------------------


def _final_joins(records: list) -> list[tuple[int, dict]]:
    """(crossfade end sample, request) of the chunk joins the stream really has: a later chunk that splices
    earlier replaced everything after its splice."""
    joins: list[tuple[int, int, dict]] = []  # (crossfade start, crossfade end, request), samples
    for record in records:
        if record.kind != "chunk":
            continue
        start = record.crossfade_frame * HOP + record.splice_offset
        joins = [j for j in joins if j[0] < start]
        joins.append((start, start + (0 if record.fresh else GEOMETRY.crossfade_frames * HOP), record.request))
    return [(end, request) for _, end, request in joins]


def test_midi_clock_lands_joins_and_prompt_morphs_on_bar_lines(jack_server, generator: Generator) -> None:
    """A drum machine's clock over a real JACK MIDI port: every bar line gets a chunk join, a prompt morph
    waits for the next bar line, a CFG change does not. Checked against the bar lines the sender played
    (tick send times) mapped onto the stream through the software clock (tolerance: one latent frame)."""
    import rtmidi

    from instrument.midi import MidiClock, open_midi_input

    bpm, ticks_per_bar = 150.0, 96  # 4/4: a bar is 1.6 s = 69 frames, 3.4 chunks of this geometry
    tick_period_s = 60.0 / (bpm * 24)
    drums = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Drums")
    drums.open_virtual_port("clock")
    store = playing_store()
    store.set_prompt_text(1, "dry drum machine groove")
    clock = MidiClock(store)
    midi = open_midi_input("Drums:clock", clock=clock)
    sent_s: list[float] = []  # when each tick went out: tick 96 k is bar k's downbeat
    deadline_start_s: list[float] = []  # when tick 0 was due: tick k was due k tick periods later
    stop = threading.Event()

    def drum_machine() -> None:
        drums.send_message([0xFA])
        start_s = time.monotonic() + 0.05
        deadline_start_s.append(start_s)
        tick = 0
        while not stop.is_set():
            delay_s = start_s + tick * tick_period_s - time.monotonic()
            if delay_s > 0:  # absolute deadlines: sleep overshoot does not accumulate
                time.sleep(delay_s)
            drums.send_message([0xF8])
            sent_s.append(time.monotonic())
            tick += 1

    sender = threading.Thread(target=drum_machine, daemon=True)
    live = session(generator, store, midi_clock=clock)
    live.start()
    sender.start()
    try:
        assert wait_for(lambda: live.status().start_to_first_sound_seconds is not None, 10.0)
        assert wait_for(lambda: live.bar_grid() is not None, 10.0), "the clock's tempo and phase are known"
        time.sleep(2 * 1.6)  # two bars of bar-line joins
        # A prompt morph a third into a bar: held until the next bar line that can still be reached.
        assert wait_for(lambda: 0.3 < clock.bar_phase < 0.4, 5.0)
        store.set_many({"prompt_1_weight": 0.0, "prompt_2_weight": 1.0}, source="midi")
        morph_s = time.monotonic()
        morph_bar = len(sent_s) // ticks_per_bar + 1
        assert wait_for(lambda: live.status().engine.morphs >= 1, 10.0)
        # A non-prompt knob right after a bar line keeps its rollback latency (it does not wait a bar).
        assert wait_for(lambda: clock.bar_phase < 0.1 and len(sent_s) // ticks_per_bar > morph_bar, 10.0)
        cfg_s = time.monotonic()
        cfg_bar = len(sent_s) // ticks_per_bar + 1
        store.set("cfg_scale", 9.0)
        assert wait_for(lambda: any(r.request and r.request["cfg_scale"] == 9.0 for r in live.engine.records), 5.0)
        time.sleep(1.6)
        status = live.status()
        records = list(live.engine.records)
    finally:
        stop.set()
        sender.join(2.0)
        live.stop()
        midi.close()
        drums.close_port()
        drums.delete()
    assert status.engine.errors == 0 and status.dry_underruns == 0, "the mapping below assumes no dry underruns"
    pump = live.pump.status_copy()
    paced = live.sink
    assert isinstance(paced, PacedSink) and paced.started_s is not None

    def stream_sample(time_s: float) -> float:  # heard at time_s: ring frame on the software clock, less silence
        return (time_s - paced.started_s) * RATE - pump.silent_frames

    # A bar line is when the drum machine meant its downbeat tick to go out: this sender shares the process (and
    # its GIL) with the engine, and under load one tick can leave tens of ms late, which a hardware drum machine's
    # would not; the clock fits its tempo and phase over 96 ticks, so one late tick does not move its bar lines.
    bar_time_s = {k: deadline_start_s[0] + k * ticks_per_bar * tick_period_s
                  for k in range((len(sent_s) - 1) // ticks_per_bar + 1)}
    bars = {k: stream_sample(t) for k, t in bar_time_s.items()}
    late_ms = {k: round(1000 * (sent_s[k * ticks_per_bar] - t), 1) for k, t in bar_time_s.items()}
    joins = _final_joins(records)
    generated_until = max(end for end, _ in joins)
    checked = [k for k, sample in bars.items() if k >= 2 and sample <= generated_until + HOP // 2]
    assert len(checked) >= 3, (bars, generated_until)
    for k in checked:
        nearest = min(abs(end - bars[k]) for end, _ in joins)
        assert nearest <= HOP, (f"bar {k} at sample {bars[k]:.0f}: nearest join {nearest:.0f} samples away; "
                                f"downbeat ticks sent late by {late_ms} ms")
    # The morph: one join on its bar line; every chunk before it still has the old prompt, every one after the new.
    morphs = [r for r in records if r.morph]
    assert len(morphs) == 1
    landed = (morphs[0].crossfade_frame + GEOMETRY.crossfade_frames) * HOP + morphs[0].splice_offset
    assert abs(landed - bars[morph_bar]) <= HOP, (landed, bars[morph_bar], morph_bar)
    assert stream_sample(morph_s) < landed
    for end, request in joins:
        new_prompt = request["prompts"] == ["dry drum machine groove"]
        assert new_prompt == (end >= landed), (end, landed, request["prompts"])
    # CFG: heard long before the next bar line (a rollback splice a chunk's compute ahead of the playhead).
    first_cfg = next(r for r in records if r.request and r.request["cfg_scale"] == 9.0)
    assert first_cfg.rollback and not first_cfg.morph
    assert first_cfg.sample < bars[cfg_bar] - 0.5 * RATE, (first_cfg.sample, bars[cfg_bar], stream_sample(cfg_s))
