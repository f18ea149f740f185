"""The notes a player holds on a MIDI keyboard: note-on/note-off and the sustain pedal -> the held chord (a 12-bin
chroma and its name), told to listeners on the MIDI thread.

`HeldNotes` is the one owner of the held set (the MIDI thread writes it, any thread reads a frozen `HeldChord`).
The chroma: each sounding note adds its velocity / 127 to its pitch class, the lowest note BASS_WEIGHT times as
much (the bass says which chord it is, as engine/harmony's slash chords do), then the loudest pitch class is 1
(the harmony control normalises by the loudest pitch class too: engine.diffusion.controls.chroma_profile).

Sustain (CC 64 >= 64): keys let go while the pedal is down keep sounding until it comes up. CC 120 (all sound
off) and CC 123 (all notes off) clear everything. `channel` None listens to every channel, else one (0-15).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.harmony import PITCH_CLASSES
from instrument.chord_names import name_chord, pitch_class_list
from instrument.midi.wire import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, is_int

logger = logging.getLogger(__name__)

BASS_WEIGHT = 1.5
SUSTAIN_CONTROL, ALL_SOUND_OFF, ALL_NOTES_OFF = 64, 120, 123


@dataclass(frozen=True)
class HeldChord:
    """What sounds under the player's hands: MIDI notes (ascending), the chroma (12 weights, loudest 1; all 0
    when nothing sounds), the chord's name ("Am", "C/E"; the pitch classes "C D F#" when it is no table chord;
    "" for nothing) and whether the name is a chord symbol."""

    notes: tuple[int, ...] = ()
    chroma: tuple[float, ...] = (0.0,) * PITCH_CLASSES
    name: str = ""
    recognised: bool = False

    @property
    def empty(self) -> bool:
        return not self.notes


@dataclass(frozen=True)
class HeldChange:
    """One change of the held set: the chord after it, whether a key went down (a new chord being played) or
    only up (keys or the pedal let go), and when it arrived (time.monotonic())."""

    chord: HeldChord
    pressed: bool
    arrival_s: float


HeldListener = Callable[[HeldChange], None]


def held_chord(velocities: dict[int, int]) -> HeldChord:
    """Sounding notes (MIDI note -> velocity 1-127) -> HeldChord."""
    if not velocities:
        return HeldChord()
    notes = tuple(sorted(velocities))
    weights = [0.0] * PITCH_CLASSES
    for note in notes:
        weights[note % PITCH_CLASSES] += velocities[note] / 127.0 * (BASS_WEIGHT if note == notes[0] else 1.0)
    loudest = max(weights)
    classes = {note % PITCH_CLASSES for note in notes}
    name = name_chord(classes, notes[0] % PITCH_CLASSES)
    return HeldChord(notes=notes, chroma=tuple(w / loudest for w in weights),
                     name=name if name is not None else pitch_class_list(classes), recognised=name is not None)


class HeldNotes:
    """Held keys and the sustain pedal -> HeldChord. Thread-safe: `handle` runs on the MIDI thread and takes one
    short lock; listeners are called after it, outside the lock, on that thread (they must not block)."""

    def __init__(self, channel: int | None = None) -> None:
        self._lock = threading.Lock()
        self._channel: int | None = None
        self.channel = channel
        self._keys: dict[int, int] = {}  # note -> velocity, keys down
        self._sustained: dict[int, int] = {}  # note -> velocity, let go while the pedal is down
        self._pedal = False
        self._chord = HeldChord()
        self._listeners: list[HeldListener] = []
        self.version = 0  # bumped on every change of the sounding notes (the display polls it)

    @property
    def channel(self) -> int | None:
        return self._channel

    @channel.setter
    def channel(self, channel: int | None) -> None:
        if channel is not None and not (is_int(channel) and 0 <= channel <= 15):
            raise ValueError(f"MIDI channel must be 0..15 or None (all), got {channel!r}")
        with self._lock:
            self._channel = channel

    def chord(self) -> HeldChord:
        with self._lock:
            return self._chord

    def add_listener(self, listener: HeldListener) -> Callable[[], None]:
        """`listener(change)` after each change of the sounding notes (MIDI thread); returns an unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def handle(self, message: Sequence[int], arrival_s: float) -> None:
        """One raw MIDI message (anything but notes and CC 64/120/123 is ignored). Never raises."""
        try:
            self._handle(message, arrival_s)
        except Exception:  # a bad message or listener must not kill the MIDI thread
            logger.debug("held notes: message %r failed", message, exc_info=True)

    def _handle(self, message: Sequence[int], arrival_s: float) -> None:
        if len(message) != 3 or not all(is_int(b) for b in message) or not 0x80 <= message[0] < 0xF0:
            return
        kind, channel, data, value = message[0] & 0xF0, message[0] & 0x0F, message[1], message[2]
        with self._lock:
            if self._channel is not None and channel != self._channel:
                return
            pressed = kind == NOTE_ON and value > 0
            if pressed:
                self._keys[data] = value
                self._sustained.pop(data, None)
            elif kind in (NOTE_ON, NOTE_OFF):
                velocity = self._keys.pop(data, None)
                if velocity is not None and self._pedal:
                    self._sustained[data] = velocity
            elif kind == CONTROL_CHANGE and data == SUSTAIN_CONTROL:
                self._pedal = value >= 64
                if not self._pedal:
                    self._sustained.clear()
            elif kind == CONTROL_CHANGE and data in (ALL_SOUND_OFF, ALL_NOTES_OFF):
                self._keys.clear()
                self._sustained.clear()
            else:
                return
            chord = held_chord({**self._sustained, **self._keys})
            if chord.notes == self._chord.notes and not pressed:
                return
            self._chord = chord
            self.version += 1
            listeners = list(self._listeners)
        change = HeldChange(chord, pressed, arrival_s)
        for listener in listeners:
            try:
                listener(change)
            except Exception:
                logger.exception("held-notes listener %r failed", listener)
