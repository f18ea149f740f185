"""Chord progressions: scale degrees (0 = tonic), one chord per bar, that the styles draw from."""

from __future__ import annotations

# Every progression starts on the tonic, so the tonal centre is restated at every 4-bar phrase.
MAJOR_POP: tuple[tuple[int, ...], ...] = ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4), (0, 3, 0, 4), (0, 1, 4, 0))
MINOR_POP: tuple[tuple[int, ...], ...] = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 0, 4), (0, 5, 6, 4))
# IV (degree 3) appears often: ii-V alone also fits the dominant key and pulls key estimates there.
MAJOR_JAZZ: tuple[tuple[int, ...], ...] = ((0, 5, 1, 4), (0, 3, 1, 4), (0, 3, 4, 0), (0, 3, 0, 4), (0, 1, 4, 0))
MINOR_JAZZ: tuple[tuple[int, ...], ...] = ((0, 3, 1, 4), (0, 1, 4, 0), (0, 5, 1, 4), (0, 3, 4, 0))
MAJOR_SIMPLE: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0), (0, 4, 0, 3), (0, 3, 0, 4), (0, 0, 3, 4))
MINOR_SIMPLE: tuple[tuple[int, ...], ...] = ((0, 3, 4, 0), (0, 0, 3, 4), (0, 5, 0, 4), (0, 3, 0, 4))
MINOR_LOOP: tuple[tuple[int, ...], ...] = ((0, 0, 5, 4), (0, 3, 0, 4), (0, 5, 3, 4), (0, 0, 3, 4))
MODE_PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "dorian": ((0, 3, 0, 3), (0, 3, 6, 0), (0, 1, 3, 0)),  # i - IV: the raised 6th is the dorian colour
    "mixolydian": ((0, 6, 3, 0), (0, 6, 0, 3), (0, 3, 6, 0)),  # I - bVII - IV
}
