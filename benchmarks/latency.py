"""Latency and robustness of the live instrument. Prints a table.

    .venv/bin/python benchmarks/latency.py [--minutes 10] [--threads 0] [--probes 12] [--output jack|none]

What it measures, in this order, in one process:
  start to first sound   from before the models load (process already running, torch imported) to the
                         first engine sample taken by the output callback
  knob-to-sound latency  a MIDI CC (through a virtual JACK MIDI port when JACK runs, else a store write)
                         moving cfg_scale -> the first output sample generated with the new value taken by
                         the output callback; one probe at a time, random 0.6-1.6 s apart
  effect latency         a CC moving the filter cutoff -> the first sample processed with it taken by the
                         output callback
  underruns              output callbacks that found the ring (and the effects pump's shadow ring) short +
                         blocks the engine had not delivered, during --minutes of random MIDI-like traffic
                         (knob twists on 6 controls, including prompt morphs and seeds, ~8 messages/s in
                         bursts); callbacks that played from the shadow chain are counted apart
The output is a JACK dummy server started here (44.1 kHz, period --period: 256 by default) when jackd is installed, else a
software clock. Latencies end when the callback takes the sample; the device's own buffer (one JACK
period, 11.6 ms here) comes on top. Uses the shipped diffusion model when it exists, else the "small"
U-Net preset with random weights (same size and speed as the model being trained; says so).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.jack import start_dummy_jack  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from instrument.live_setup import live_thread_count  # noqa: E402

CONTROLS = {21: "cfg_scale", 22: "xy_x", 23: "variation", 24: "fx_filter_cutoff_hz", 25: "fx_reverb_mix", 26: "seed"}


def stolen_seconds() -> float:
    """CPU time the hypervisor gave to others while this VM wanted it (/proc/stat steal; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _per_second(seconds: list[tuple[float, int, int, int]]) -> list[tuple[float, int, int, int]]:
    return [(1e3 * (b[0] - a[0]), b[1] - a[1], b[2] - a[2], b[3] - a[3]) for a, b in zip(seconds, seconds[1:])]


def underrun_seconds_vs_steal(seconds: list[tuple[float, int, int, int]]) -> str:
    """Do underruns come with the hypervisor's steal? The steal in the seconds that had an output underrun,
    against the steal in all seconds of the traffic."""
    deltas = _per_second(seconds)
    if not deltas:
        return "-"
    hit = [steal for steal, output, _, _ in deltas if output > 0]
    every = statistics.median(steal for steal, _, _, _ in deltas)
    return (f"{len(hit)} seconds: median {statistics.median(hit):.0f} ms vs {every:.0f} ms"
            if hit else f"none (all seconds: median {every:.0f} ms)")


def gap_seconds_vs_steal(seconds: list[tuple[float, int, int, int]]) -> str:
    deltas = _per_second(seconds)
    hit = [steal for steal, _, _, gaps in deltas if gaps > 0]
    return f"{statistics.median(hit):.0f} ms / {len(hit)}" if hit else "none"


def load_generator(device: str, eager: bool = False):  # noqa: ANN201
    from engine.codec.checkpoint import load_autoencoder
    from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS
    from engine.diffusion.text import PromptEncoder
    from engine.diffusion.unet import MODEL_PRESETS, UNet1D
    from engine.generate import Generator

    if DEFAULT_DIFFUSION_WEIGHTS.exists():
        generator = Generator.load(device=device)
        if device == "cpu" and not eager:
            generator.use_traced_network(background=True, trace_first_inline=False)  # as `cascade play` does
        return generator, "shipped" + (", eager" if eager else ", TorchScript traced in the background after the "
                                                                "first sound")
    autoencoder = load_autoencoder(device=device)
    torch.manual_seed(0)
    network = UNet1D(replace(MODEL_PRESETS["small"], latent_channels=autoencoder.config.latent_channels))
    return (Generator(autoencoder, network, PromptEncoder(device=device), device, "small-random"),
            "NO shipped diffusion weights yet: 'small' U-Net preset with random weights (same size/speed)")


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(np.ceil(0.95 * len(ordered))) - 1)]
    return f"{1e3 * statistics.median(ordered):.0f} / {1e3 * p95:.0f} ms (n={len(ordered)})"


def steps_by_played_audio(records: list, from_sample: int) -> dict[int, float]:
    """Seconds of streamed audio per step count: each chunk plays from where it was spliced in until the
    next chunk's splice (a rollback or refine cuts the one before it short)."""
    chunks = [r for r in records if r.kind == "chunk"]
    seconds: dict[int, float] = {}
    for record, following in zip(chunks, chunks[1:]):
        start, end = max(record.sample, from_sample), following.sample
        if end > start:
            seconds[record.steps] = seconds.get(record.steps, 0.0) + (end - start) / 44100
    return seconds


def describe_steps(seconds: dict[int, float], requested: int) -> str:
    total = sum(seconds.values())
    if not total:
        return "-"
    ordered = sorted(seconds.items())
    cumulative, median = 0.0, ordered[-1][0]
    for steps, value in ordered:
        cumulative += value
        if cumulative >= total / 2:
            median = steps
            break
    full = sum(v for s, v in seconds.items() if s >= requested) / total
    return f"median {median}, {100 * full:.0f} % at {requested}, " + ", ".join(
        f"{s}: {100 * v / total:.0f} %" for s, v in ordered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=0.5, help="random-traffic run length (issue: 10)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: as `cascade play` and the app, one fewer than the CPUs)")
    parser.add_argument("--probes", type=int, default=12, help="knob-to-sound and effect probes")
    parser.add_argument("--output", choices=("jack", "none"), default="jack")
    parser.add_argument("--period", type=int, default=256, help="JACK period (frames per callback)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager", action="store_true", help="eager U-Net (no TorchScript), as before")
    parser.add_argument("--guard-factor", type=float, default=None, help="EngineConfig.guard_factor override")
    parser.add_argument("--latency-target", type=float, default=None, help="EngineConfig.latency_target_s override")
    parser.add_argument("--descriptor", choices=("loudness", "brightness", "noisiness", "density"), default=None,
                        help="turn this descriptor target on for the whole run (its own guidance: a third U-Net pass)")
    parser.add_argument("--descriptor-traffic", choices=("loudness", "brightness", "noisiness", "density"),
                        default=None, help="add this descriptor's knob (CC 27) and its on/off switch (CC 28) to the "
                                           "random traffic: targets turned on and off mid-performance")
    parser.add_argument("--live-descriptor-guidance", type=float, default=None,
                        help="the descriptor curves' own guidance scale live (a third U-Net pass while a target is "
                             "on); default: the app's (instrument.session.requests.LIVE_DESCRIPTOR_GUIDANCE)")
    parser.add_argument("--no-priority", action="store_true",
                        help="do not raise the pump's and the feeder's priority (a user without rtprio)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or live_thread_count())
    from engine.allocator import keep_freed_memory

    keep_freed_memory()  # as every `cascade` command does (engine/allocator.py)
    rng = random.Random(args.seed)
    jack, server = start_dummy_jack("cascade-bench", args.period) if args.output == "jack" else (None, None)

    from engine.stream import EngineConfig
    from instrument.effects_pump import LONG_WAKE_GAPS, MAX_WAKE_GAP_AT_S, VERY_LONG_WAKE_GAPS, PumpConfig
    from instrument.session import LiveSession
    from instrument.midi import CcMapping, MidiMapper
    from instrument.parameters import ParameterStore
    from instrument.presets import apply_preset, factory_preset_dir, load_preset_file
    import instrument.session.requests as live_requests  # its LIVE_DESCRIPTOR_GUIDANCE is read at each request

    import sounddevice

    sounddevice._terminate()  # PortAudio scans devices at initialisation: see the server just started
    sounddevice._initialize()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    load_start_s = time.monotonic()
    generator, model_note = load_generator(device, args.eager)
    store = ParameterStore()
    apply_preset(store, load_preset_file(factory_preset_dir() / "default.json")[0])
    if args.live_descriptor_guidance is not None:
        live_requests.LIVE_DESCRIPTOR_GUIDANCE = args.live_descriptor_guidance
    descriptor_parameters = live_requests.DESCRIPTOR_PARAMETERS
    if args.descriptor:
        store.set(f"{descriptor_parameters[args.descriptor]}_enabled", 1.0)
    controls = dict(CONTROLS)
    if args.descriptor_traffic:
        knob = descriptor_parameters[args.descriptor_traffic]
        controls |= {27: knob, 28: f"{knob}_enabled"}
    mapper = MidiMapper(store, [CcMapping(None, cc, name) for cc, name in controls.items()])
    pump_config = (PumpConfig(realtime_priority=0, nice=0, feeder_realtime_priority=0, feeder_nice=0)
                   if args.no_priority else PumpConfig())
    engine_config = EngineConfig()
    if args.guard_factor is not None:
        engine_config = replace(engine_config, guard_factor=args.guard_factor)
    if args.latency_target is not None:
        engine_config = replace(engine_config, latency_target_s=args.latency_target)
    session = LiveSession(generator, store, output="auto" if jack else "none", pump_config=pump_config,
                          engine_config=engine_config)
    steal_before = stolen_seconds()
    session.start()
    midi_out = midi_in = None
    if jack:
        import rtmidi

        from instrument.midi import open_midi_input

        midi_out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="Bench")
        midi_out.open_virtual_port("knobs")
        midi_in = open_midi_input("Bench:knobs", mapper=mapper)

    def send(cc: int, value: int) -> float:
        sent_s = time.monotonic()
        if midi_out is not None:
            midi_out.send_message([0xB0, cc, value])
        else:
            mapper.handle([0xB0, cc, value], sent_s)
        return sent_s

    try:
        while session.status().start_to_first_sound_seconds is None and time.monotonic() - load_start_s < 60:
            time.sleep(0.01)
        first = session.pump.status_copy().first_sound_time_s
        start_to_sound = None if first is None else first - load_start_s
        time.sleep(2.0)  # settle: the buffer fills, the engine measures its speed

        knob: list[float] = []
        for probe in range(args.probes):
            sent_s = send(21, 20 + (probe * 37) % 100)
            deadline_s = sent_s + 5.0
            heard = None
            while heard is None and time.monotonic() < deadline_s:
                changes = session.pump.status_copy().heard_changes
                heard = next((h for c, h in changes if c >= sent_s - 0.002), None)
                time.sleep(0.002)
            if heard is not None:
                knob.append(heard - sent_s)
            time.sleep(rng.uniform(0.6, 1.6))
        def effect_probes() -> list[float]:
            before = len(session.pump.status_copy().effect_latencies_s)
            for probe in range(args.probes):
                send(24, 30 + (probe * 53) % 97)
                time.sleep(rng.uniform(0.2, 0.5))
            return session.pump.status_copy().effect_latencies_s[before:]

        effect = effect_probes()

        status = session.status()
        under_before = status.output_underruns + status.dry_underruns
        shadow_before = (status.shadow_callbacks, status.shadow_frames)
        rtf: list[float] = []
        messages = 0
        end_s = time.monotonic() + 60 * args.minutes
        traffic_start_sample = session.queue.read_position
        next_status_s = time.monotonic() + 1
        seconds: list[tuple[float, int, int, int]] = []  # each second: (steal s, output und., dry und., pump gaps)
        while time.monotonic() < end_s:
            cc = rng.choice(list(controls))  # a burst on one knob, like a hand turning it
            value = rng.randrange(128)
            for _ in range(rng.randint(1, 8)):
                value = max(0, min(127, value + rng.randint(-6, 6)))
                send(cc, value)
                messages += 1
                time.sleep(rng.uniform(0.01, 0.05))
            time.sleep(rng.expovariate(3.0))
            if time.monotonic() >= next_status_s:
                full = session.status()
                s = full.engine
                if s.real_time_factor is not None:
                    rtf.append(s.real_time_factor)
                seconds.append((stolen_seconds(), full.output_underruns, full.dry_underruns,
                                int(session._memory.pump.slots[VERY_LONG_WAKE_GAPS])))
                next_status_s += 1
        status = session.status()
        feeder = session.pump.status_copy()
        underruns = status.output_underruns + status.dry_underruns - under_before
        traffic_latency = session.pump.status_copy().control_latencies_s
        played_steps = steps_by_played_audio(session.engine.records_since(0), traffic_start_sample)
        effect_after = effect_probes()  # the ring lead may have grown during the traffic
    finally:
        session.stop()
        if midi_in is not None:
            midi_in.close()
        if midi_out is not None:
            midi_out.close_port()
            midi_out.delete()
        sounddevice._terminate()
        if jack is not None:
            jack.terminate()
            jack.wait(5)

    load = os.getloadavg()
    steal_s = stolen_seconds() - steal_before
    rows = [
        ("model", f"{generator.model_id} on {device}, {torch.get_num_threads()} torch threads ({model_note})"
                  + (f"; the {args.descriptor_traffic} knob and its switch in the traffic"
                     if args.descriptor_traffic else "")
                  + (f"; the {args.descriptor} target on" if args.descriptor else "")
                  + (f"; descriptor guidance live {live_requests.LIVE_DESCRIPTOR_GUIDANCE:g}"
                     + (" (3 U-Net passes a step while a target is on)"
                        if live_requests.LIVE_DESCRIPTOR_GUIDANCE > 0 else "")
                     if args.descriptor or args.descriptor_traffic else "")),
        ("output", f"{status.output}" + (f", period {args.period} frames ({1e3 * args.period / 44100:.1f} ms)"
                                         if jack is not None else "")),
        ("machine load (1/5 min, 2 cores)", f"{load[0]:.2f} / {load[1]:.2f}"),
        ("start to first sound (model load included)", "-" if start_to_sound is None else f"{start_to_sound:.2f} s"),
        ("knob-to-sound latency, median / p95 (goal <= 500 ms median)", percentiles(knob)),
        ("effect-parameter latency, median / p95 (goal <= 20 ms)", percentiles(effect)),
        ("effect-parameter latency after the traffic run, median / p95", percentiles(effect_after)),
        (f"underruns in {args.minutes:g} min of random MIDI traffic ({messages} CCs) (goal 0)",
         f"{underruns} (output {status.output_underruns}, engine {status.dry_underruns}, whole run)"),
        ("output callbacks in that traffic played from the shadow chain (no silence) / their frames",
         f"{status.shadow_callbacks - shadow_before[0]} / {status.shadow_frames - shadow_before[1]} "
         f"(whole run {status.shadow_callbacks} / {status.shadow_frames})"),
        ("effect changes first heard from the shadow (their latency not measured) / measured",
         f"{status.shadowed_effect_changes} / {len(feeder.effect_latencies_s)}"),
        ("control latency under that traffic, median / p95", percentiles(traffic_latency)),
        ("real-time factor (compute / audio), median", "-" if not rtf else f"{statistics.median(rtf):.2f}"),
        ("steps of the audio played under traffic (requested 8)", describe_steps(played_steps, 8)),
        ("chunks / rollbacks / refines / late splices / errors",
         f"{status.engine.chunks} / {status.engine.rollbacks} / {status.engine.refines} "
         f"({status.engine.refines_abandoned} abandoned for a knob) / "
         f"{status.engine.late_splices} / {status.engine.errors}"),
        ("effects pump / feeder / engine thread priority",
         f"{status.pump_priority} / {feeder.feeder_priority} / {status.engine.priority}"),
        ("effects pump (output process): longest absence / output ring low water",
         f"{1e3 * status.pump_max_wake_gap_seconds:.1f} ms / "
         + ("-" if status.ring_low_water_seconds is None else f"{1e3 * status.ring_low_water_seconds:.1f} ms")),
        ("effects pump: absences over 5 ms / the longest ended (s after the first sound)",
         f"{int(session._memory.pump.slots[LONG_WAKE_GAPS])} / "
         f"{session._memory.pump.slots[MAX_WAKE_GAP_AT_S] - (feeder.first_sound_time_s or 0):.1f} s"),
        ("CPU time stolen by the hypervisor during the run (both cores)", f"{steal_s:.2f} s"),
        ("traffic seconds with an output underrun: their steal vs all seconds' (median ms of CPU per s)",
         underrun_seconds_vs_steal(seconds)),
        ("traffic seconds with a pump absence over 20 ms: their steal (median ms per s) / count",
         gap_seconds_vs_steal(seconds)),
        ("output ring lead at the end (one period + 2.9 ms, 8.7 ms time-shared; fixed with a shadow) / near misses",
         f"{1e3 * status.ring_target_seconds:.1f} ms / {status.near_misses}"),
        ("feeder (main process): longest absence / dry ring low water",
         f"{1e3 * status.feeder_max_wake_gap_seconds:.1f} ms / "
         + ("-" if feeder.dry_low_water_frames is None else f"{1e3 * feeder.dry_low_water_frames / 44100:.1f} ms")),
        ("dry lead at the end (starts at 34.8 ms) / feeder near misses",
         f"{1e3 * status.dry_lead_seconds:.1f} ms / {status.feeder_near_misses}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
