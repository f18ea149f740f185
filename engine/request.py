"""What a chunk or a render asks of the generator: `GenerationRequest`, its validation and its JSON form (both ways).

Torch-free (the vocabulary and the ranges only): the instrument builds requests from knob snapshots, take
logs store them as JSON, and the engine thread compares them, none of which needs a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from engine.harmony import DEFAULT_BEATS_PER_BAR, KEY_HARMONY_OF_OLD_LOGS, KEY_HARMONY_SOURCES, PITCH_CLASSES
from engine.limits import (BEATS_PER_BAR_RANGE, CFG_SCALE_RANGE, DESCRIPTOR_GUIDANCE_RANGE, NEGATIVE_SCALE_RANGE,
                           STEPS_RANGE, TEMPO_BPM_RANGE, VARIATION_RANGE)
from engine.vocabulary import (DESCRIPTOR_GUIDANCE_DEFAULT, DESCRIPTOR_MODEL_NAMES, DESCRIPTORS, GUIDED_CONTROLS,
                               GUIDED_CONTROLS_DEFAULT, SAMPLER_NAMES, scale_index, tonic_index)

# What a take log from before the guided_controls / descriptor_guidance fields meant: no control was guided.
GUIDED_CONTROLS_OF_OLD_LOGS: tuple[str, ...] = ()
DESCRIPTOR_GUIDANCE_OF_OLD_LOGS = 0.0
# A request names a descriptor by its short name ("brightness") or the model's ("centroid_hz").
DESCRIPTOR_ALIASES: dict[str, str] = {d.short: d.model for d in DESCRIPTORS}


class GenerationError(ValueError):
    """A request the generator cannot honour (bad prompt, unknown sampler, out-of-range value)."""


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate. Prompts with weight 0 are ignored; at least one must have weight > 0."""

    prompts: tuple[str, ...] = ("ambient pad",)
    weights: tuple[float, ...] = (1.0,)
    negative_prompt: str = ""
    negative_scale: float = 0.0  # > 0 pushes away from the negative prompt (composable guidance)
    cfg_scale: float = 3.0
    steps: int = 8
    sampler: str = "dpmpp_2m"
    seed: int = 0
    variation: float = 0.0  # 0..1: slerp from this seed's noise towards a second noise field
    tempo_bpm: float | None = None
    key: str | None = None  # tonic, e.g. "F#" or "Bb"
    scale: str | None = None  # major, minor, dorian, mixolydian
    descriptors: dict[str, float | np.ndarray] = field(default_factory=dict)
    clock: bool = True  # feed a beat clock at tempo_bpm (only when tempo_bpm is given)
    beat_offset: float = 0.0  # beats: shifts the clock (a MIDI clock's bar phase)
    seconds_total: float | None = None  # Stable Audio timing; None: not given
    # The harmony control (a model trained with it only; engine/harmony.py makes these from chords): chroma
    # (frames, 12) pitch-class weights >= 0, one row per latent frame of the whole render like a descriptor
    # curve; chroma_mask (frames,) 1 = given, 0 = free (no chord), None = given wherever the curve sounds.
    chroma: np.ndarray | None = None
    chroma_mask: np.ndarray | None = None
    # The render frame of the chroma curve's first row: a live chunk sends only its own window's rows (a curve
    # from frame 0 would grow with the whole performance); frames before it get no chroma (mask 0).
    chroma_start_frame: int = 0
    # Where no chroma is given, what a harmony model gets from key + scale (harmony.KEY_HARMONY_SOURCES: the key's
    # "progression" a bar at a time, the "scale" profile, the "tonic_chord" or "none"); a model without harmony
    # channels ignores it.
    key_harmony: str = KEY_HARMONY_SOURCES[0]
    beats_per_bar: int = DEFAULT_BEATS_PER_BAR  # the bars the key's chord changes (progression) fall on
    # time-varying controls the CFG scale also amplifies (left out of the unconditional branch): GUIDED_CONTROLS
    guided_controls: tuple[str, ...] = GUIDED_CONTROLS_DEFAULT
    # the descriptor curves' own guidance: + s * (cond - cond without the curves), a third pass where curves are given
    descriptor_guidance: float = DESCRIPTOR_GUIDANCE_DEFAULT

    def validated(self) -> "GenerationRequest":
        if len(self.prompts) != len(self.weights):
            raise GenerationError(f"{len(self.prompts)} prompts but {len(self.weights)} weights")
        if not any(w > 0 for w in self.weights):
            raise GenerationError("no prompt has a weight above 0")
        if self.sampler not in SAMPLER_NAMES:
            raise GenerationError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLER_NAMES)}")
        if not STEPS_RANGE[0] <= self.steps <= STEPS_RANGE[1]:
            raise GenerationError(f"steps must be in {STEPS_RANGE[0]}..{STEPS_RANGE[1]}, got {self.steps}")
        # `not low <= x <= high` is also true for NaN: a NaN never slips through as "no change".
        for name, value, (low, high) in (("cfg_scale", self.cfg_scale, CFG_SCALE_RANGE),
                                         ("negative_scale", self.negative_scale, NEGATIVE_SCALE_RANGE),
                                         ("descriptor_guidance", self.descriptor_guidance, DESCRIPTOR_GUIDANCE_RANGE),
                                         ("variation", self.variation, VARIATION_RANGE)):
            if not low <= value <= high:
                raise GenerationError(f"{name} must be in {low:g}..{high:g}, got {value}")
        if self.tempo_bpm is not None and not TEMPO_BPM_RANGE[0] <= self.tempo_bpm <= TEMPO_BPM_RANGE[1]:
            raise GenerationError(f"tempo_bpm must be in {TEMPO_BPM_RANGE[0]:g}..{TEMPO_BPM_RANGE[1]:g}, "
                                  f"got {self.tempo_bpm}")
        try:
            if self.key is not None:
                tonic_index(self.key)
            if self.scale is not None:
                scale_index(self.scale)
        except ValueError as error:
            raise GenerationError(str(error)) from error
        for name in self.descriptors:
            if DESCRIPTOR_ALIASES.get(name, name) not in DESCRIPTOR_MODEL_NAMES:
                raise GenerationError(f"unknown descriptor {name!r}; known: {', '.join(DESCRIPTOR_ALIASES)}")
        unknown = [name for name in self.guided_controls if name not in GUIDED_CONTROLS]
        if unknown or len(set(self.guided_controls)) != len(self.guided_controls):
            raise GenerationError(f"guided_controls must be distinct names from {', '.join(GUIDED_CONTROLS)}, "
                                  f"got {list(self.guided_controls)}")
        self._validate_harmony()
        return self

    def _validate_harmony(self) -> None:
        low, high = BEATS_PER_BAR_RANGE
        if not low <= self.beats_per_bar <= high or self.beats_per_bar != int(self.beats_per_bar):
            raise GenerationError(f"beats_per_bar must be a whole number in {low}..{high}, got {self.beats_per_bar!r}")
        if self.key_harmony not in KEY_HARMONY_SOURCES:
            raise GenerationError(f"unknown key_harmony {self.key_harmony!r}; known: {', '.join(KEY_HARMONY_SOURCES)}")
        if not (isinstance(self.chroma_start_frame, int) and self.chroma_start_frame >= 0):
            raise GenerationError(f"chroma_start_frame must be a frame number >= 0, got {self.chroma_start_frame!r}")
        if self.chroma is None:
            if self.chroma_mask is not None:
                raise GenerationError("a chroma_mask without a chroma curve")
            return
        chroma = np.asarray(self.chroma)
        if chroma.ndim != 2 or chroma.shape[1] != PITCH_CLASSES:
            raise GenerationError(f"chroma must be (frames, {PITCH_CLASSES}), got shape {chroma.shape}")
        if not np.isfinite(chroma).all() or (chroma < 0).any():
            raise GenerationError("chroma must be finite and >= 0")
        if self.chroma_mask is not None:
            mask = np.asarray(self.chroma_mask)
            if mask.shape != (chroma.shape[0],):
                raise GenerationError(f"chroma_mask must be ({chroma.shape[0]},), one value a chroma frame, "
                                      f"got shape {mask.shape}")
            if not ((mask >= 0) & (mask <= 1)).all():  # NaN fails too
                raise GenerationError("chroma_mask values must be in 0..1")


def request_to_json(request: GenerationRequest) -> dict[str, Any]:
    """A GenerationRequest as JSON-ready data (descriptor curves as lists): take logs, and the prepared chunk's key."""
    data = asdict(request)
    data["prompts"] = list(request.prompts)
    data["weights"] = [float(w) for w in request.weights]
    data["guided_controls"] = list(request.guided_controls)
    data["descriptors"] = {k: (v.tolist() if isinstance(v, np.ndarray) else float(v))
                           for k, v in request.descriptors.items()}
    for name in ("chroma", "chroma_mask"):
        value = getattr(request, name)
        data[name] = None if value is None else np.asarray(value, dtype=np.float32).tolist()
    return data


def request_from_json(data: dict[str, Any]) -> GenerationRequest:
    """Inverse of request_to_json (unknown keys ignored: a log from a newer version still loads)."""
    known = {f.name for f in fields(GenerationRequest)}
    values = {k: v for k, v in data.items() if k in known}
    values.setdefault("key_harmony", KEY_HARMONY_OF_OLD_LOGS)  # a log from before the field meant this
    values.setdefault("guided_controls", GUIDED_CONTROLS_OF_OLD_LOGS)  # a log from before the field: none guided
    values.setdefault("descriptor_guidance", DESCRIPTOR_GUIDANCE_OF_OLD_LOGS)
    values["guided_controls"] = tuple(values["guided_controls"])
    values["prompts"] = tuple(values.get("prompts", ()))
    values["weights"] = tuple(float(w) for w in values.get("weights", ()))
    values["descriptors"] = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else float(v))
                             for k, v in dict(values.get("descriptors", {})).items()}
    for name in ("chroma", "chroma_mask"):
        if values.get(name) is not None:
            values[name] = np.asarray(values[name], dtype=np.float32)
    return GenerationRequest(**values)
