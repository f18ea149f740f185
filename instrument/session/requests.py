"""Parameter snapshots -> what the engine generates: the prompt blend, the GenerationRequest of the next chunk,
and which parameter changes need new audio (or wait for a bar line) at all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from engine.harmony import DEFAULT_BEATS_PER_BAR
from engine.prompt_words import read_prompt, settle
from engine.request import GenerationRequest
from engine.vocabulary import DESCRIPTORS, KEY_HARMONY_SOURCES, KEY_TONICS, N_PROMPT_SLOTS, SAMPLER_NAMES, SCALES
from instrument.parameters import (PARAMETER_SPECS, WORDS_SOURCE, ParameterChange, ParameterSnapshot, ParameterStore,
                                   prompt_text_name)

DEFAULT_PROMPT = "music"  # used only when every prompt slot is empty (the model needs some text)
GENERATION_GROUPS = frozenset({"generation", "prompts", "descriptors"})
# The request's descriptor name -> the parameter store's knob for it.
DESCRIPTOR_PARAMETERS: dict[str, str] = {descriptor.short: descriptor.parameter for descriptor in DESCRIPTORS}
PROMPT_PARAMETERS: tuple[str, ...] = tuple(spec.name for spec in PARAMETER_SPECS if spec.group == "prompts")
# Knobs the prompt blend's words move with a morph (prompt_settings.py): under a clock they land with it on the bar
# line. Not the tempo: a running clock owns it.
MORPH_KNOBS: tuple[str, ...] = ("key", "scale")


def xy_corner_weights(x: float, y: float) -> tuple[float, float, float, float]:
    """Bilinear weights of the XY pad's corners: (0,0) slot 1, (1,0) slot 2, (0,1) slot 3, (1,1) slot 4."""
    x, y = min(1.0, max(0.0, x)), min(1.0, max(0.0, y))
    return ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y)


def blend_weights(values: Mapping[str, float], prompt_texts: tuple[str, ...]) -> tuple[float, ...]:
    """The four prompt-slot weights the engine uses.

    At the pad's origin (0, 0) the slot weights rule (note triggers and weight knobs set them); moving
    the pad away from the origin morphs towards the pad's corner mix: w = (1 - d) * slot weights +
    d * corner weights, d = max(x, y). So (1, 0) is prompt 2 alone, (1, 1) prompt 4, and the path
    is continuous everywhere. Empty slots get weight 0.
    """
    x, y = float(values.get("xy_x", 0.0)), float(values.get("xy_y", 0.0))
    distance = min(1.0, max(x, y, 0.0))
    slots = [float(values.get(f"prompt_{i + 1}_weight", 0.0)) for i in range(N_PROMPT_SLOTS)]
    total = sum(slots)
    slots = [w / total for w in slots] if total > 0 else slots
    corners = xy_corner_weights(x, y)
    weights = [(1 - distance) * s + distance * c for s, c in zip(slots, corners)]
    return tuple(w if prompt_texts[i].strip() else 0.0 for i, w in enumerate(weights))


def sounding_prompts(values: Mapping[str, float], prompt_texts: tuple[str, ...]) -> list[tuple[str, float]]:
    """The prompts the engine blends: [(text, weight)] with weight > 0; when every weight is 0, the non-empty
    prompts equally (an empty list when every slot is empty)."""
    weights = blend_weights(values, prompt_texts)
    sounding = [(t, w) for t, w in zip(prompt_texts, weights) if t.strip() and w > 0]
    return sounding or [(t, 1.0) for t in prompt_texts if t.strip()]


# The descriptor curves' own guidance live, while a target is on (a third U-Net pass). Off until session 26: the
# pass took knob-to-sound from ~510 to 914 ms (docs/latency_benchmark_s19_descriptor_guidance.txt). With the
# text's keys made once a chunk it costs little (knob-to-sound ~570 ms with a target on, guided or not), and
# played live at 1.0 the curves are followed: r 0.82 / 0.75 -> 0.94 / 0.95 (loudness / brightness), style and key
# unchanged within chance (docs/descriptor_guidance_benchmark_s26_live.txt,
# docs/quality_benchmark_s26_live_loudness_knob.txt); 1.5 followed the range better and cost style (0.80 -> 0.75).
LIVE_DESCRIPTOR_GUIDANCE = 1.0


def request_from_snapshot(snapshot: ParameterSnapshot) -> GenerationRequest:
    """Parameter values (real units) -> the GenerationRequest for the next chunk."""
    values = snapshot.values
    pairs = sounding_prompts(values, snapshot.prompt_texts) or [(DEFAULT_PROMPT, 1.0)]
    # the meter has no knob: the sounding prompts' words set it ("a waltz", "in 6/8"), as in `cascade render`
    meter = settle(tuple(read_prompt(t) for t, _ in pairs), tuple(w for _, w in pairs)).beats_per_bar
    descriptors = {name: float(values[parameter]) for name, parameter in DESCRIPTOR_PARAMETERS.items()
                   if values.get(f"{parameter}_enabled", 0.0) >= 0.5}
    return GenerationRequest(prompts=tuple(t for t, _ in pairs), weights=tuple(w for _, w in pairs),
                             cfg_scale=float(values["cfg_scale"]), steps=int(values["steps"]),
                             sampler=SAMPLER_NAMES[int(values["sampler"])], seed=int(values["seed"]),
                             variation=float(values["variation"]), tempo_bpm=float(values["tempo_bpm"]),
                             key=KEY_TONICS[int(values["key"])], scale=SCALES[int(values["scale"])],
                             key_harmony=KEY_HARMONY_SOURCES[int(values["key_harmony"])], descriptors=descriptors,
                             beats_per_bar=meter or DEFAULT_BEATS_PER_BAR,
                             descriptor_guidance=LIVE_DESCRIPTOR_GUIDANCE)


def make_generation_filter(store: ParameterStore) -> Callable[[str], bool]:
    """name -> whether a change to it needs new audio from the engine (effects and gain do not)."""
    texts = {prompt_text_name(slot) for slot in range(N_PROMPT_SLOTS)}
    generation = {name for name, spec in store.specs.items() if spec.group in GENERATION_GROUPS}
    return lambda name: name in generation or name in texts


def prompt_morph_names(store: ParameterStore) -> frozenset[str]:
    """The names whose changes make a prompt morph: the prompt texts, weights and XY pad."""
    return frozenset({prompt_text_name(slot) for slot in range(N_PROMPT_SLOTS)}
                     | {name for name, spec in store.specs.items() if spec.group == "prompts"})


def make_quantised_filter(store: ParameterStore) -> Callable[[ParameterChange], bool]:
    """change -> whether it is part of a prompt morph (texts, weights, XY pad, and the key and scale the words move
    with them): under a running MIDI clock those land on the next bar line; every other change keeps its rollback
    latency."""
    morph = prompt_morph_names(store)
    return lambda change: change.name in morph or (change.source == WORDS_SOURCE and change.name in MORPH_KNOBS)


def hold_prompts(current: ParameterSnapshot, held: ParameterSnapshot) -> ParameterSnapshot:
    """`current` with the prompt texts, weights, XY pad, key and scale of `held` (what plays until the morph's bar
    line; a key turned by hand while a morph waits lands with it)."""
    values = dict(current.values)
    for name in PROMPT_PARAMETERS + MORPH_KNOBS:
        if name in held.values:
            values[name] = held.values[name]
    return ParameterSnapshot(MappingProxyType(values), held.prompt_texts, current.version)
