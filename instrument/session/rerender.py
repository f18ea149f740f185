"""Re-rendering a recorded take offline: read its automation log (the state at the take's start, every knob
change at its take frame, every engine chunk and every dry underrun), replay the engine's chunks with more
steps, lay them on the take's timeline and run the effects over it as the effects pump did."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio_file import AudioFileError, write_audio_file
from engine.codec.stereo import STEREO_PHASE_OF_OLD_TAKES, STEREO_PHASES, decoding_with_stereo_phase
from engine.generate import Generator
from engine.stream import StreamGeometry, render_chunk_log
from engine.vocabulary import AUDIO_CHANNELS, SAMPLE_RATE
from instrument.effects import EffectsChain
from instrument.effects_pump import EffectsAutomation, PumpConfig
from instrument.output import CEILING
from instrument.parameters import ParameterStore
from instrument.takes import check_room, describe_write_error, read_take_audio

logger = logging.getLogger(__name__)


class TakeError(ValueError):
    """A take that cannot be re-rendered (missing files, not a Cascade take, no engine log)."""


@dataclass
class TakeLog:
    """A take's sidecar and automation log, parsed: what a re-render replays. Frames count the take's
    timeline (stream samples + dry underrun gaps); samples count the engine's stream."""

    sidecar: dict[str, Any]
    take_start_sample: int
    start_values: dict[str, float]
    records: list[dict[str, Any]]
    parameter_events: list[dict[str, Any]]  # {"frame", "name", "value"} in take frames
    underruns: list[dict[str, Any]]  # {"frame", "stream_sample", "frames"}
    geometry: StreamGeometry
    frames: int


def read_take_log(sidecar_path: Path) -> TakeLog:
    """Parse a take's sidecar and automation log; TakeError when it is not a re-renderable Cascade take."""
    sidecar_path = Path(sidecar_path)
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TakeError(f"{sidecar_path}: cannot read the take sidecar: {error}") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != "cascade-take":
        raise TakeError(f"{sidecar_path}: not a Cascade take sidecar")
    log_path = sidecar_path.parent / str(sidecar.get("automation", ""))
    events: list[dict[str, Any]] = []
    try:
        for number, line in enumerate(log_path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:  # a crash may cut the last line short
                    logger.warning("%s:%d: unreadable automation line skipped", log_path, number + 1)
    except OSError as error:
        raise TakeError(f"{log_path}: cannot read the automation log: {error}") from None
    start = next((e for e in events if e.get("name") == "take_start"), None)
    if start is None:
        raise TakeError(f"{log_path}: no take_start event (not recorded by `cascade play`?)")
    records = [e["value"] for e in events if e.get("name") in ("chunk", "gap") and isinstance(e.get("value"), dict)]
    if not records:
        raise TakeError(f"{log_path}: no engine chunks logged")
    engine = sidecar.get("engine", {})
    geometry = StreamGeometry(int(engine.get("window_frames", 64)), int(engine.get("context_frames", 16)),
                              int(engine.get("crossfade_frames", 4)))
    parameters = [e for e in events if e.get("name") not in ("take_start", "chunk", "gap", "underrun")]
    underruns = [{"frame": int(e["frame"]), **e["value"]} for e in events if e.get("name") == "underrun"]
    frames = int(sidecar.get("frames", 0))
    if sidecar.get("state") == "recording" or frames <= 0:  # crashed take: count what the FLAC holds
        try:
            frames = read_take_audio(sidecar_path.parent / sidecar["audio"])[0].shape[1]
        except Exception:  # noqa: BLE001
            pass
    return TakeLog(sidecar, int(start["value"]["stream_sample"]), dict(start["value"]["values"]), records,
                   parameters, underruns, geometry, frames)


def rerender_take(sidecar_path: Path, generator: Generator, output_path: Path, *, steps: int | None = 32,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Re-render a recorded take offline (same prompts, seeds, chunk layout, knob moves and effects; more
    steps) into a 24-bit file of the take's length. Returns a summary."""
    log = read_take_log(sidecar_path)
    model_id = log.sidecar.get("model_id")
    if model_id and model_id != generator.model_id:
        logger.warning("take was played with model %s, re-rendering with %s", model_id, generator.model_id)
    output_path = Path(output_path)
    try:  # before the render's minutes of work: a take that filled its disk has no room beside it
        check_room(output_path, log.frames)
    except OSError as error:
        raise TakeError(str(error)) from None
    stream_end = log.take_start_sample + log.frames
    # decoded as it was played: takes from before the codec shared its channels' phase say nothing of it
    stereo_phase = str(log.sidecar.get("engine", {}).get("stereo_phase", STEREO_PHASE_OF_OLD_TAKES))
    if stereo_phase not in STEREO_PHASES:
        raise TakeError(f"{sidecar_path}: unknown stereo phase {stereo_phase!r} (one of {STEREO_PHASES})")
    with decoding_with_stereo_phase(generator.autoencoder, stereo_phase):
        dry_stream = render_chunk_log(generator, log.records, log.geometry, steps=steps, end_sample=stream_end,
                                      progress=progress)
    wet = apply_effects_automation(take_timeline(dry_stream, log), log.start_values, log.parameter_events)
    try:  # atomic (a temporary file renamed into place): a disk that fills meanwhile leaves no partial file
        write_audio_file(output_path, wet, SAMPLE_RATE)
    except AudioFileError as error:
        cause = error.__cause__ if error.__cause__ is not None else error
        raise TakeError(f"cannot write {output_path}: {describe_write_error(cause, output_path)}") from None
    return {"output": str(output_path), "frames": log.frames, "seconds": log.frames / SAMPLE_RATE,
            "chunks": sum(1 for r in log.records if r.get("kind", "chunk") == "chunk"), "steps": steps,
            "model_id": generator.model_id, "take_model_id": model_id, "stereo_phase": stereo_phase,
            "peak": float(np.abs(wet).max()) if wet.size else 0.0}


def take_timeline(dry_stream: np.ndarray, log: TakeLog) -> np.ndarray:
    """The take's dry timeline, (2, log.frames): the (2, n) stream from the take's start, with the logged dry
    underruns as silence (the stream did not advance during them)."""
    dry = np.zeros((AUDIO_CHANNELS, log.frames), dtype=np.float32)
    take_frame, stream_sample = 0, log.take_start_sample
    for underrun in sorted(log.underruns, key=lambda u: u["frame"]) + [{"frame": log.frames, "frames": 0}]:
        until_frame = min(int(underrun["frame"]), log.frames)
        n_frames = max(0, until_frame - take_frame)
        piece = dry_stream[:, stream_sample:stream_sample + n_frames]
        dry[:, take_frame:take_frame + piece.shape[-1]] = piece
        take_frame += n_frames
        stream_sample += n_frames
        take_frame = min(log.frames, take_frame + int(underrun["frames"]))
    return dry


def apply_effects_automation(dry: np.ndarray, start_values: Mapping[str, float], events: list[dict[str, Any]],
                             block_frames: int = PumpConfig.block_frames) -> np.ndarray:
    """The effects pump's effects, offline: (2, n) dry -> wet, parameter events applied at their take frames (at the
    block boundary the pump would have seen them), with the same smoothing."""
    store = ParameterStore()
    values = {name: float(start_values.get(name, spec.default)) for name, spec in store.specs.items()}
    effects = EffectsChain(SAMPLE_RATE)
    automation = EffectsAutomation(store.specs, effects, values)
    pending = sorted((e for e in events if e.get("name") in automation.targets), key=lambda e: int(e["frame"]))
    out = np.zeros_like(dry)
    index = 0
    for start in range(0, dry.shape[-1], block_frames):
        while index < len(pending) and int(pending[index]["frame"]) <= start:
            automation.set(pending[index]["name"], float(pending[index]["value"]))
            index += 1
        automation.advance(block_frames / SAMPLE_RATE)
        block = np.ascontiguousarray(dry[:, start:start + block_frames])
        if block.shape[-1] < block_frames:
            padded = np.zeros((AUDIO_CHANNELS, block_frames), dtype=np.float32)
            padded[:, :block.shape[-1]] = block
            out[:, start:] = effects.process(padded)[:, :block.shape[-1]]
        else:
            out[:, start:start + block_frames] = effects.process(block)
    np.clip(out, -CEILING, CEILING, out=out)
    return out

