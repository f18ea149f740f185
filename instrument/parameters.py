"""The instrument's named parameters and the thread-safe store that holds their current values.

Every control (GUI widget, MIDI knob, preset, automation) writes here in real units (dB, Hz, BPM; never
widget positions); the engine thread takes an immutable snapshot once per chunk. One lock guards the
values and is held only for dict updates and copies, so the GUI, MIDI and engine threads never wait on
each other for long. No Qt or torch imports: this module is imported by every thread's code.

Prompt texts live in the store too (four slots) because a prompt change is a control change like any
other: it bumps the version, shows up in the automation log and reaches subscribers.
"""

from __future__ import annotations

import difflib
import logging
import math
import numbers
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from engine.vocabulary import DESCRIPTORS, KEY_HARMONY_SOURCES, KEY_TONICS, N_PROMPT_SLOTS, SAMPLER_NAMES, SCALES

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("float", "int", "bool", "choice")
CURVES: tuple[str, ...] = ("linear", "log")
GROUPS: tuple[str, ...] = ("generation", "prompts", "descriptors", "effects", "output")

MAX_PROMPT_CHARS = 1000
HISTORY_LENGTH = 10_000  # changes kept for changes_since(); the take writer drains far more often than this

# The key, scale and sampler choices and the prompt slots are the vocabulary's (engine.vocabulary, torch-free): a
# preset's key label reads as a training caption spells it, and a choice index maps to the name the generator takes.
DELAY_BEATS: tuple[str, ...] = ("1/8", "1/4", "3/8", "1/2")
HARMONY_QUANTISE: tuple[str, ...] = ("bar", "beat")  # where a held chord lands: the next bar line or beat
HARMONY_RELEASE: tuple[str, ...] = ("latch", "key", "free")  # what all keys let go leaves as the target

ChangeCallback = Callable[[str, "float | str", str], None]


def _as_finite_float(value: object, what: str) -> float:
    """A real number as a finite float; TypeError for non-numbers, ValueError for NaN/inf/overflow."""
    if not isinstance(value, numbers.Real):  # bool and numpy scalars are Real too
        raise TypeError(f"{what}: expected a number, got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError as exc:  # ints beyond float range
        raise ValueError(f"{what}: {value!r} is too large") from exc
    if not math.isfinite(result):
        raise ValueError(f"{what}: {result!r} is not a finite number")
    return result


def _round_half_up(value: float) -> float:
    # Python's round() is banker's rounding: 2.5 -> 2 would make a knob feel uneven.
    return float(math.floor(value + 0.5))


@dataclass(frozen=True)
class ParameterSpec:
    """One named parameter: range and default in real units, how to map it to a 0..1 knob, and docs."""

    name: str
    minimum: float
    maximum: float
    default: float
    unit: str
    kind: str = "float"
    choices: tuple[str, ...] = ()
    smoothing_seconds: float = 0.0
    curve: str = "linear"
    group: str = ""
    description: str = ""
    label: str = ""  # what the GUI prints (short: it sits under a knob); empty: the name

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)  # frozen: the one place a field is filled in
        # Catch spec typos at import time rather than as odd knob behaviour on stage.
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} not in {KINDS}")
        if self.curve not in CURVES:
            raise ValueError(f"{self.name}: curve {self.curve!r} not in {CURVES}")
        for label, number in (("minimum", self.minimum), ("maximum", self.maximum), ("default", self.default)):
            _as_finite_float(number, f"{self.name}.{label}")
        if not self.minimum < self.maximum:
            raise ValueError(f"{self.name}: minimum {self.minimum} must be below maximum {self.maximum}")
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.minimum}, {self.maximum}]")
        if self.curve == "log" and (self.minimum <= 0 or self.kind != "float"):
            raise ValueError(f"{self.name}: a log curve needs a float parameter with a positive minimum")
        if self.kind == "choice":
            if len(self.choices) < 2 or len(set(self.choices)) != len(self.choices):
                raise ValueError(f"{self.name}: a choice needs at least two distinct labels")
            if self.minimum != 0 or self.maximum != len(self.choices) - 1:
                raise ValueError(f"{self.name}: a choice's range must be 0..{len(self.choices) - 1}")
        elif self.choices:
            raise ValueError(f"{self.name}: only kind='choice' takes choices")
        if self.kind == "bool" and (self.minimum, self.maximum) != (0, 1):
            raise ValueError(f"{self.name}: a bool's range must be 0..1")
        if self.default != self.clamp(self.default):
            raise ValueError(f"{self.name}: default {self.default} is not a valid {self.kind} value")
        if self.smoothing_seconds < 0:
            raise ValueError(f"{self.name}: smoothing_seconds must be >= 0")

    def clamp(self, value: float) -> float:
        """`value` clamped to the range; ints and choice indices rounded, bools to 0.0/1.0.

        Raises TypeError for non-numbers and ValueError for NaN or infinity (a NaN reaching the
        engine or the audio callback would silence or blow up the output).
        """
        number = _as_finite_float(value, self.name)
        if self.kind == "bool":
            return 1.0 if number >= 0.5 else 0.0
        if self.kind in ("int", "choice"):
            number = _round_half_up(number)
        return min(self.maximum, max(self.minimum, number))

    def to_normalised(self, value: float) -> float:
        """Position 0..1 of `value` (clamped first) along the spec's curve, for knobs and MIDI CCs."""
        number = self.clamp(value)
        if self.curve == "log":
            position = math.log(number / self.minimum) / math.log(self.maximum / self.minimum)
        else:
            position = (number - self.minimum) / (self.maximum - self.minimum)
        return min(1.0, max(0.0, position))

    def from_normalised(self, x: float) -> float:
        """Inverse of to_normalised: the value at knob position `x` (clamped to 0..1)."""
        position = min(1.0, max(0.0, _as_finite_float(x, f"{self.name} (normalised)")))
        if self.curve == "log":
            value = self.minimum * (self.maximum / self.minimum) ** position
        else:
            value = self.minimum + position * (self.maximum - self.minimum)
        return self.clamp(value)

    def choice_label(self, value: float) -> str:
        """The label of a choice parameter's stored index."""
        if self.kind != "choice":
            raise TypeError(f"{self.name} is not a choice parameter")
        return self.choices[int(self.clamp(value))]

    def choice_index(self, label: str) -> float:
        """The stored index (as float) of a choice label; exact match first, then case-insensitive."""
        if self.kind != "choice":
            raise TypeError(f"{self.name} is not a choice parameter")
        if label in self.choices:
            return float(self.choices.index(label))
        folded = [c.casefold() for c in self.choices]
        if isinstance(label, str) and label.casefold() in folded:
            return float(folded.index(label.casefold()))
        raise ValueError(f"{self.name}: unknown choice {label!r}; expected one of {list(self.choices)}")


def _float(name: str, minimum: float, maximum: float, default: float, unit: str, group: str, description: str,
           *, label: str, curve: str = "linear", smoothing_seconds: float = 0.0) -> ParameterSpec:
    return ParameterSpec(name, minimum, maximum, default, unit, "float", (), smoothing_seconds, curve, group,
                         description, label)


def _int(name: str, minimum: int, maximum: int, default: int, unit: str, group: str, description: str,
         *, label: str) -> ParameterSpec:
    return ParameterSpec(name, minimum, maximum, default, unit, "int", (), 0.0, "linear", group, description, label)


def _bool(name: str, default: bool, group: str, description: str, *, label: str) -> ParameterSpec:
    return ParameterSpec(name, 0.0, 1.0, 1.0 if default else 0.0, "", "bool", (), 0.0, "linear", group,
                         description, label)


def _choice(name: str, choices: tuple[str, ...], default: str, group: str, description: str,
            *, label: str) -> ParameterSpec:
    return ParameterSpec(name, 0.0, float(len(choices) - 1), float(choices.index(default)), "", "choice",
                         choices, 0.0, "linear", group, description, label)


_MIX_SMOOTHING_S = 0.05  # long enough to avoid zipper noise from 7-bit MIDI steps, short enough to feel direct
_DESCRIPTOR_LABEL: dict[str, str] = {d.parameter: d.label for d in DESCRIPTORS}  # a target and its switch share it

PARAMETER_SPECS: tuple[ParameterSpec, ...] = (
    # --- generation: read by the engine once per chunk -------------------------------------------------
    _float("cfg_scale", 1.0, 12.0, 4.0, "", "generation",
           "Classifier-free guidance scale: higher follows the prompts more literally, lower is freer", label="CFG"),
    _int("steps", 1, 32, 8, "steps", "generation",
         "Denoising steps per chunk: more is cleaner but slower (the engine may lower it to keep up)", label="Steps"),
    _choice("sampler", SAMPLER_NAMES, "dpmpp_2m", "generation", "Diffusion sampler", label="Sampler"),
    _int("seed", 0, 2**31 - 1, 0, "", "generation", "Random seed of the initial noise", label="Seed"),
    _float("variation", 0.0, 1.0, 0.0, "", "generation",
           "How far each chunk's noise departs from the seed's (0 = repeatable, 1 = fresh noise each chunk)",
           label="Variation"),
    _float("tempo_bpm", 40.0, 240.0, 120.0, "BPM", "generation", "Tempo the music is conditioned on", label="Tempo"),
    _choice("key", KEY_TONICS, "C", "generation", "Tonic of the key the music is conditioned on", label="Key"),
    _choice("scale", SCALES, "major", "generation", "Scale (mode) the music is conditioned on", label="Scale"),
    _choice("key_harmony", KEY_HARMONY_SOURCES, KEY_HARMONY_SOURCES[0], "generation",
            "What the key asks of the harmony while no chord is held (a model with the harmony control): its chords "
            "a bar at a time (I vi IV V, i VI iv v), its scale, its tonic chord, or nothing", label="Key gives"),
    # --- the held chord as the harmony target (a model with the harmony control only; session/harmony.py) ---
    _bool("harmony_follow", True, "generation",
          "Chords held on the MIDI keyboard become the harmony target (a model trained with the harmony control)",
          label="Chords"),
    _choice("harmony_quantise", HARMONY_QUANTISE, "bar", "generation",
            "When a newly held chord takes over: at the next bar line or the next beat", label="Chord on"),
    _choice("harmony_release", HARMONY_RELEASE, "latch", "generation",
            "All keys let go: keep the last chord, fall back to what the key gives, or leave the harmony free",
            label="On release"),
    _int("harmony_channel", 0, 16, 0, "", "generation",
         "The MIDI channel whose notes are the chord (0 = every channel)", label="Chord ch"),
    # --- prompts: four weighted text prompts and the XY morph pad ---------------------------------------
    *(_float(f"prompt_{slot}_weight", 0.0, 1.0, 1.0 if slot == 1 else 0.0, "", "prompts",
             f"Weight of prompt {slot} in the prompt blend", label=f"Weight {slot}")
      for slot in range(1, N_PROMPT_SLOTS + 1)),
    _float("xy_x", 0.0, 1.0, 0.0, "", "prompts",
           "XY morph pad, horizontal (corners: 0,0 = prompt 1, 1,0 = prompt 2, 0,1 = prompt 3, 1,1 = prompt 4)",
           label="Pad X"),
    _float("xy_y", 0.0, 1.0, 0.0, "", "prompts", "XY morph pad, vertical (see xy_x)", label="Pad Y"),
    # --- descriptor targets, each with its presence-mask switch ------------------------------------------
    _float("loudness_db", -40.0, 0.0, -20.0, "dB", "descriptors", "Target loudness",
           label=_DESCRIPTOR_LABEL["loudness_db"]),
    _bool("loudness_db_enabled", False, "descriptors", "Condition on the loudness target",
          label=_DESCRIPTOR_LABEL["loudness_db"]),
    _float("brightness_hz", 200.0, 8000.0, 1500.0, "Hz", "descriptors",
           "Target brightness (spectral centroid)", label=_DESCRIPTOR_LABEL["brightness_hz"], curve="log"),
    _bool("brightness_hz_enabled", False, "descriptors", "Condition on the brightness target",
          label=_DESCRIPTOR_LABEL["brightness_hz"]),
    _float("noisiness", 0.0, 1.0, 0.1, "", "descriptors",
           "Target noisiness (spectral flatness: 0 = tonal, 1 = noise)", label=_DESCRIPTOR_LABEL["noisiness"]),
    _bool("noisiness_enabled", False, "descriptors", "Condition on the noisiness target",
          label=_DESCRIPTOR_LABEL["noisiness"]),
    _float("density", 0.0, 10.0, 4.0, "onsets/s", "descriptors", "Target onset density",
           label=_DESCRIPTOR_LABEL["density"]),
    _bool("density_enabled", False, "descriptors", "Condition on the onset-density target",
          label=_DESCRIPTOR_LABEL["density"]),
    # --- effects: applied after decoding, smoothed where a jump would click ------------------------------
    _float("fx_reverb_mix", 0.0, 1.0, 0.15, "", "effects", "Reverb wet fraction", label="Reverb",
           smoothing_seconds=_MIX_SMOOTHING_S),
    _float("fx_reverb_room", 0.0, 1.0, 0.5, "", "effects", "Reverb room size", label="Room"),
    _float("fx_delay_mix", 0.0, 1.0, 0.0, "", "effects", "Tempo-synced delay wet fraction", label="Delay",
           smoothing_seconds=_MIX_SMOOTHING_S),
    _choice("fx_delay_beats", DELAY_BEATS, "1/4", "effects", "Delay time as a fraction of a whole note",
            label="Delay time"),
    _float("fx_delay_feedback", 0.0, 0.95, 0.35, "", "effects",
           "Delay feedback (kept below 1 so the echoes always die away)", label="Feedback",
           smoothing_seconds=_MIX_SMOOTHING_S),
    _float("fx_chorus_mix", 0.0, 1.0, 0.0, "", "effects", "Chorus wet fraction", label="Chorus",
           smoothing_seconds=_MIX_SMOOTHING_S),
    _float("fx_filter_cutoff_hz", 20.0, 20000.0, 20000.0, "Hz", "effects",
           "Low-pass filter cutoff (20 kHz = open)", label="Low-pass", curve="log", smoothing_seconds=_MIX_SMOOTHING_S),
    _float("fx_compressor_threshold_db", -40.0, 0.0, 0.0, "dB", "effects",
           "Compressor threshold (0 dB = effectively off)", label="Comp", smoothing_seconds=_MIX_SMOOTHING_S),
    _bool("fx_limiter_enabled", True, "effects", "Brick-wall limiter before the output (protects ears)",
          label="Limiter"),
    # --- output: applied by the audio callback ------------------------------------------------------------
    _float("master_gain_db", -60.0, 6.0, -6.0, "dB", "output", "Master output gain", label="Master",
           smoothing_seconds=0.05),
)


def prompt_text_name(slot: int) -> str:
    """The change-log / subscriber name of prompt text `slot` (0-based): "prompt_1_text" .. "prompt_4_text"."""
    return f"prompt_{slot + 1}_text"


def clean_prompt_text(text: str | bytes | bytearray) -> str:
    """A prompt text made safe: valid Unicode, no control characters, at most MAX_PROMPT_CHARS.

    Tabs and line breaks become spaces (they separate words); other control characters are dropped.
    Raises TypeError for non-text and ValueError for undecodable bytes or lone surrogates.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"prompt text is not valid UTF-8 (byte {exc.start}: {exc.reason})") from exc
    if not isinstance(text, str):
        raise TypeError(f"prompt text must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")  # lone surrogates (e.g. from surrogateescape) cannot reach the text encoder
    except UnicodeEncodeError as exc:
        raise ValueError(f"prompt text is not valid Unicode (position {exc.start}: {exc.reason})") from exc
    cleaned = "".join(" " if ch in "\t\n\r\v\f" else ch for ch in text
                      if ch in "\t\n\r\v\f" or unicodedata.category(ch) != "Cc")
    return cleaned[:MAX_PROMPT_CHARS].strip()


CLOCK_SOURCE = "midi_clock"  # the source of tempo changes a MIDI clock makes (they ride along with the next chunk)
WORDS_SOURCE = "prompt_words"  # knob moves the prompt blend's words make (instrument/session/prompt_settings.py)


class ParameterChange(NamedTuple):
    """One effective change, as the take writer logs it."""

    version: int  # the store version right after this change
    name: str  # a parameter name, or prompt_text_name(slot) for a prompt text
    value: float | str  # float for parameters, str for prompt texts
    source: str  # "gui", "midi", "preset", "api", "reset", ...
    time_monotonic_s: float  # time.monotonic() when the change was stored


@dataclass(frozen=True)
class ParameterSnapshot:
    """An immutable copy of the whole store at one version."""

    values: Mapping[str, float]  # a read-only MappingProxy over a private copy
    prompt_texts: tuple[str, str, str, str]
    version: int

    def __getitem__(self, name: str) -> float:
        return self.values[name]


class ParameterStore:
    """Thread-safe: any thread may set; readers take snapshots. One lock held only for dict copies.

    Subscribers are called after a change, outside the lock, on the thread that made the change; a
    subscriber that must touch Qt objects has to hop to the GUI thread itself (e.g. a queued signal).
    """

    def __init__(self, specs: Iterable[ParameterSpec] = PARAMETER_SPECS) -> None:
        self._specs: dict[str, ParameterSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"duplicate parameter name {spec.name!r}")
            self._specs[spec.name] = spec
        self._lock = threading.Lock()
        self._values: dict[str, float] = {name: float(s.default) for name, s in self._specs.items()}
        self._prompt_texts: list[str] = [""] * N_PROMPT_SLOTS
        self._version = 0
        self._history: deque[ParameterChange] = deque(maxlen=HISTORY_LENGTH)
        self._subscribers: list[ChangeCallback] = []

    # --- specs -----------------------------------------------------------------------------------------

    @property
    def specs(self) -> Mapping[str, ParameterSpec]:
        return MappingProxyType(self._specs)

    def spec(self, name: str) -> ParameterSpec:
        """The spec of `name`; KeyError naming close matches for a typo."""
        try:
            return self._specs[name]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(name), list(self._specs), n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"unknown parameter {name!r}{hint}") from None

    # --- reading ---------------------------------------------------------------------------------------

    def get(self, name: str) -> float:
        self.spec(name)  # the KeyError with suggestions
        with self._lock:
            return self._values[name]

    def prompt_texts(self) -> tuple[str, str, str, str]:
        with self._lock:
            return tuple(self._prompt_texts)  # type: ignore[return-value]

    @property
    def version(self) -> int:
        """Increments by one on every effective change (parameter or prompt text)."""
        with self._lock:
            return self._version

    def snapshot(self) -> ParameterSnapshot:
        with self._lock:
            values = dict(self._values)
            texts = tuple(self._prompt_texts)
            version = self._version
        return ParameterSnapshot(MappingProxyType(values), texts, version)  # type: ignore[arg-type]

    def changes_since(self, version: int) -> list[ParameterChange]:
        """Changes with a version above `version`, oldest first (at most the last HISTORY_LENGTH)."""
        with self._lock:
            if not self._history or self._history[-1].version <= version:
                return []
            return [change for change in self._history if change.version > version]

    # --- writing ---------------------------------------------------------------------------------------

    def set(self, name: str, value: float, source: str = "api") -> float:
        """Store `value` clamped; returns the stored value. Same value again: no version bump, no notify."""
        stored = self.spec(name).clamp(value)
        self._commit({name: stored}, {}, source)
        return stored

    def set_normalised(self, name: str, x: float, source: str = "midi") -> float:
        """Store the value at knob position `x` (0..1 along the spec's curve)."""
        return self.set(name, self.spec(name).from_normalised(x), source)

    def set_prompt_text(self, slot: int, text: str, source: str = "api") -> str:
        """Store prompt text `slot` (0..3) after clean_prompt_text; returns the stored text."""
        self._check_slot(slot)
        cleaned = clean_prompt_text(text)
        self._commit({}, {slot: cleaned}, source)
        return cleaned

    def set_many(self, values: Mapping[str, float], prompt_texts: Sequence[str] | None = None,
                 source: str = "api") -> int:
        """Set several parameters (and optionally all prompt texts) atomically: every value is validated
        before anything is stored, so on an error nothing changes, and no snapshot sees half of it.
        Returns the number of effective changes."""
        clamped = {name: self.spec(name).clamp(value) for name, value in values.items()}
        texts: dict[int, str] = {}
        if prompt_texts is not None:
            if isinstance(prompt_texts, (str, bytes)) or len(prompt_texts) > N_PROMPT_SLOTS:
                raise ValueError(f"prompt_texts must be a sequence of at most {N_PROMPT_SLOTS} texts")
            padded = list(prompt_texts) + [""] * (N_PROMPT_SLOTS - len(prompt_texts))
            texts = {slot: clean_prompt_text(text) for slot, text in enumerate(padded)}
        return len(self._commit(clamped, texts, source))

    def reset(self, source: str = "reset") -> None:
        """All parameters to their defaults and all prompt texts empty, atomically."""
        defaults = {name: float(s.default) for name, s in self._specs.items()}
        self._commit(defaults, {slot: "" for slot in range(N_PROMPT_SLOTS)}, source)

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback(name, value, source)` after each effective change; returns an unsubscribe function.

        `value` is a float for parameters and a str for prompt texts (name "prompt_N_text"). Exceptions
        from callbacks are logged and swallowed so one broken listener cannot break a knob.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                try:
                    self._subscribers.remove(callback)
                except ValueError:  # already unsubscribed: make it idempotent
                    pass

        return unsubscribe

    # --- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _check_slot(slot: int) -> None:
        if isinstance(slot, bool) or not isinstance(slot, numbers.Integral) or not 0 <= slot < N_PROMPT_SLOTS:
            raise ValueError(f"prompt slot must be an int 0..{N_PROMPT_SLOTS - 1}, got {slot!r}")

    def _commit(self, values: Mapping[str, float], texts: Mapping[int, str], source: str) -> list[ParameterChange]:
        """Store already-validated values; record and notify the effective changes."""
        now_s = time.monotonic()
        changes: list[ParameterChange] = []
        with self._lock:
            for name, value in values.items():
                if self._values[name] != value:
                    self._values[name] = value
                    self._version += 1
                    changes.append(ParameterChange(self._version, name, value, source, now_s))
            for slot, text in texts.items():
                if self._prompt_texts[slot] != text:
                    self._prompt_texts[slot] = text
                    self._version += 1
                    changes.append(ParameterChange(self._version, prompt_text_name(slot), text, source, now_s))
            self._history.extend(changes)
            subscribers = list(self._subscribers) if changes else []
        # Outside the lock: a callback may read or even set the store without deadlocking.
        for change in changes:
            for callback in subscribers:
                try:
                    callback(change.name, change.value, change.source)
                except Exception:
                    logger.exception("parameter subscriber %r failed on %s", callback, change.name)
        return changes
