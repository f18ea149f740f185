"""The style table: everything style-specific the composer draws from (tempo range, programs, patterns,
progressions, moods, optional parts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.dataset.composer.progressions import (
    MAJOR_JAZZ, MAJOR_POP, MAJOR_SIMPLE, MINOR_JAZZ, MINOR_LOOP, MINOR_POP, MINOR_SIMPLE,
)


@dataclass(frozen=True)
class StyleSpec:
    """Everything style-specific the composer needs. Tuples are choices drawn per piece by rng."""

    tempo_range_bpm: tuple[float, float]
    minor_probability: float
    modes: tuple[str, ...]  # modal scales that fit the style (see SCALE_INTERVALS)
    mode_probability: float
    programs: dict[str, tuple[int, ...]]  # role -> plausible GM programs
    drum_patterns: tuple[str, ...]  # keys of DRUM_PATTERNS; empty = never drums
    drum_probability: float
    drum_kits: tuple[int, ...]
    bass_patterns: tuple[str, ...]
    chord_rhythms: tuple[str, ...]
    progressions_major: tuple[tuple[int, ...], ...]
    progressions_minor: tuple[tuple[int, ...], ...]
    moods_major: tuple[str, ...]
    moods_minor: tuple[str, ...]
    optional_roles: dict[str, float] = field(default_factory=dict)  # role -> probability it appears
    swing_fraction: float = 0.0  # off-beat 8th delayed by this many beats (1/6 = triplet swing)
    swing16_fraction: float = 0.0  # off-beat 16ths delayed by this many beats
    seventh_probability: float = 0.0  # chance the piece uses 7th chords
    triple_meter_probability: float = 0.0
    melody_density: float = 0.55  # 0..1, how many 8th slots the lead fills
    bass_low_pitch: int = 36  # lowest root of the bass register (MIDI)
    lead_register: tuple[int, int] = (64, 86)
    fills: bool = True


_ELECTRONIC_MOODS_MAJOR = ("uplifting", "euphoric", "bright", "energetic", "warm", "groovy")
_ELECTRONIC_MOODS_MINOR = ("dark", "hypnotic", "moody", "driving", "brooding", "tense")

STYLES: dict[str, StyleSpec] = {
    "house": StyleSpec(
        tempo_range_bpm=(118.0, 128.0), minor_probability=0.5, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (0, 4, 5, 89, 90), "bass": (38, 39, 33), "lead": (81, 80, 4, 11),
                  "pad": (88, 89, 91, 94), "arp": (81, 87, 98)},
        drum_patterns=("four_on_floor",), drum_probability=1.0, drum_kits=(24, 25, 0),
        bass_patterns=("house", "offbeat"), chord_rhythms=("stabs", "sustain"),
        progressions_major=MAJOR_POP, progressions_minor=MINOR_LOOP,
        moods_major=_ELECTRONIC_MOODS_MAJOR, moods_minor=_ELECTRONIC_MOODS_MINOR,
        optional_roles={"pad": 0.5, "arp": 0.4, "lead": 0.7}, seventh_probability=0.5),
    "techno": StyleSpec(
        tempo_range_bpm=(125.0, 140.0), minor_probability=0.8, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (89, 90, 95, 81), "bass": (38, 39, 87), "lead": (81, 80, 84),
                  "pad": (89, 90, 94, 95), "arp": (81, 80, 87)},
        drum_patterns=("techno",), drum_probability=1.0, drum_kits=(24, 25),
        bass_patterns=("offbeat", "root8"), chord_rhythms=("stabs", "sustain"),
        progressions_major=MAJOR_SIMPLE, progressions_minor=MINOR_LOOP,
        moods_major=("hypnotic", "driving", "euphoric", "energetic"),
        moods_minor=("dark", "hypnotic", "driving", "industrial", "tense", "menacing"),
        optional_roles={"pad": 0.5, "arp": 0.7, "lead": 0.4}, melody_density=0.4),
    "drum and bass": StyleSpec(
        tempo_range_bpm=(160.0, 178.0), minor_probability=0.75, modes=(), mode_probability=0.0,
        programs={"chords": (4, 89, 90, 0), "bass": (38, 39, 87, 33), "lead": (81, 80, 82, 11),
                  "pad": (88, 89, 91, 94), "arp": (81, 87)},
        drum_patterns=("breakbeat",), drum_probability=1.0, drum_kits=(0, 8, 16, 24),
        bass_patterns=("dnb",), chord_rhythms=("sustain", "stabs"),
        progressions_major=MAJOR_POP, progressions_minor=MINOR_POP,
        moods_major=("energetic", "uplifting", "euphoric", "bright"),
        moods_minor=("dark", "intense", "driving", "moody", "tense"),
        optional_roles={"pad": 0.6, "arp": 0.3, "lead": 0.6}, melody_density=0.35,
        bass_low_pitch=28, seventh_probability=0.3),
    "hip hop": StyleSpec(
        tempo_range_bpm=(80.0, 98.0), minor_probability=0.65, modes=("dorian",), mode_probability=0.1,
        programs={"chords": (0, 4, 5, 89), "bass": (38, 33, 32, 39), "lead": (4, 11, 81, 73),
                  "pad": (89, 88, 49), "arp": (11, 8, 4)},
        drum_patterns=("boom_bap",), drum_probability=1.0, drum_kits=(25, 0, 8),
        bass_patterns=("boom_bap",), chord_rhythms=("sustain", "comp"),
        progressions_major=MAJOR_JAZZ + MAJOR_POP, progressions_minor=MINOR_LOOP,
        moods_major=("laid-back", "confident", "warm", "groovy", "smooth"),
        moods_minor=("moody", "gritty", "dark", "melancholic", "tense"),
        optional_roles={"pad": 0.3, "arp": 0.2, "lead": 0.7}, swing16_fraction=0.06,
        seventh_probability=0.6, bass_low_pitch=30, melody_density=0.4),
    "lo-fi": StyleSpec(
        tempo_range_bpm=(70.0, 90.0), minor_probability=0.5, modes=("dorian",), mode_probability=0.15,
        programs={"chords": (4, 0, 5, 26), "bass": (33, 32, 38), "lead": (11, 4, 73, 26),
                  "pad": (89, 88, 52), "arp": (11, 8, 46)},
        drum_patterns=("boom_bap",), drum_probability=1.0, drum_kits=(0, 8, 40),
        bass_patterns=("boom_bap", "sustain"), chord_rhythms=("sustain", "comp"),
        progressions_major=MAJOR_JAZZ, progressions_minor=MINOR_JAZZ + MINOR_LOOP,
        moods_major=("nostalgic", "relaxed", "dreamy", "warm", "cozy", "mellow"),
        moods_minor=("melancholic", "wistful", "nostalgic", "rainy", "mellow", "introspective"),
        optional_roles={"pad": 0.3, "arp": 0.3, "lead": 0.7}, swing_fraction=0.12,
        seventh_probability=0.9, melody_density=0.4),
    "ambient": StyleSpec(
        tempo_range_bpm=(60.0, 90.0), minor_probability=0.5, modes=(), mode_probability=0.0,
        programs={"chords": (46, 8, 11, 0, 88), "bass": (89, 32, 38), "lead": (73, 88, 11, 79),
                  "pad": (88, 89, 91, 92, 94, 95), "arp": (11, 8, 46, 98)},
        drum_patterns=("ambient_pulse",), drum_probability=0.5, drum_kits=(24, 0, 40),
        bass_patterns=("sustain",), chord_rhythms=("pulse",),
        progressions_major=MAJOR_SIMPLE, progressions_minor=MINOR_SIMPLE,
        moods_major=("serene", "peaceful", "dreamy", "calm", "hopeful", "airy"),
        moods_minor=("melancholic", "ethereal", "mysterious", "somber", "dark", "contemplative"),
        optional_roles={"pad": 0.9, "arp": 0.6, "lead": 0.5}, melody_density=0.25, fills=False),
    "rock": StyleSpec(
        tempo_range_bpm=(100.0, 150.0), minor_probability=0.45, modes=("mixolydian",), mode_probability=0.12,
        programs={"chords": (29, 30, 27), "bass": (33, 34), "lead": (30, 29, 27, 16),
                  "pad": (16, 17, 18), "arp": (27, 28)},
        drum_patterns=("backbeat",), drum_probability=1.0, drum_kits=(0, 16, 8),
        bass_patterns=("rock", "root8"), chord_rhythms=("strum8", "sustain"),
        progressions_major=MAJOR_POP + MAJOR_SIMPLE, progressions_minor=MINOR_POP,
        moods_major=("energetic", "triumphant", "upbeat", "anthemic", "bright"),
        moods_minor=("aggressive", "dark", "brooding", "angsty", "intense"),
        optional_roles={"pad": 0.35, "arp": 0.2, "lead": 0.7}),
    "funk": StyleSpec(
        tempo_range_bpm=(95.0, 120.0), minor_probability=0.5, modes=("dorian", "mixolydian"),
        mode_probability=0.15,
        programs={"chords": (27, 4, 16, 28), "bass": (33, 36, 37, 38), "lead": (61, 56, 65, 66, 80),
                  "pad": (16, 17, 61), "arp": (27, 4)},
        drum_patterns=("funk",), drum_probability=1.0, drum_kits=(0, 8),
        bass_patterns=("funk",), chord_rhythms=("funk_chops", "stabs"),
        progressions_major=((0, 3, 4, 0), (0, 1, 4, 0), (0, 3, 0, 4)),
        progressions_minor=((0, 3, 0, 4), (0, 0, 3, 4), (0, 5, 3, 4)),
        moods_major=("groovy", "funky", "playful", "upbeat", "confident"),
        moods_minor=("gritty", "groovy", "sly", "moody", "streetwise"),
        optional_roles={"pad": 0.3, "arp": 0.2, "lead": 0.7}, swing16_fraction=0.03,
        seventh_probability=0.8),
    "jazz": StyleSpec(
        tempo_range_bpm=(100.0, 180.0), minor_probability=0.35, modes=("dorian",), mode_probability=0.12,
        programs={"chords": (0, 4, 26, 11), "bass": (32,), "lead": (66, 65, 56, 11, 73, 26),
                  "pad": (0, 4), "arp": (11, 26)},
        drum_patterns=("jazz_swing",), drum_probability=1.0, drum_kits=(32, 40),
        bass_patterns=("walking",), chord_rhythms=("comp",),
        progressions_major=MAJOR_JAZZ, progressions_minor=MINOR_JAZZ,
        moods_major=("swinging", "sophisticated", "relaxed", "playful", "warm"),
        moods_minor=("smoky", "moody", "melancholic", "noir", "bluesy"),
        optional_roles={"lead": 0.85, "pad": 0.0, "arp": 0.0}, swing_fraction=1.0 / 6.0,
        seventh_probability=1.0, triple_meter_probability=0.12, melody_density=0.6,
        lead_register=(58, 82)),
    "reggae": StyleSpec(
        tempo_range_bpm=(65.0, 85.0), minor_probability=0.4, modes=(), mode_probability=0.0,
        programs={"chords": (27, 16, 4, 0), "bass": (33, 34, 38), "lead": (16, 56, 65, 11, 4),
                  "pad": (16, 17), "arp": (27,)},
        drum_patterns=("one_drop",), drum_probability=1.0, drum_kits=(0, 8),
        bass_patterns=("reggae",), chord_rhythms=("skank",),
        progressions_major=((0, 3, 0, 4), (0, 3, 4, 0), (0, 5, 3, 4)),
        progressions_minor=((0, 3, 0, 3), (0, 3, 0, 4), (0, 3, 4, 0), (0, 5, 3, 4)),
        moods_major=("laid-back", "sunny", "relaxed", "joyful", "easygoing"),
        moods_minor=("conscious", "moody", "dubby", "hazy", "melancholic"),
        optional_roles={"pad": 0.5, "arp": 0.0, "lead": 0.6}, swing_fraction=0.05, melody_density=0.4),
    "chamber": StyleSpec(
        tempo_range_bpm=(60.0, 120.0), minor_probability=0.45, modes=(), mode_probability=0.0,
        programs={"chords": (45, 46, 6, 0), "bass": (42, 43, 32), "lead": (40, 73, 68, 71, 41),
                  "pad": (48, 49, 42), "arp": (46, 6, 45), "counter": (41, 42, 71, 70)},
        drum_patterns=(), drum_probability=0.0, drum_kits=(0,),
        bass_patterns=("root_fifth",), chord_rhythms=("pulse",),
        progressions_major=MAJOR_SIMPLE + ((0, 5, 1, 4),), progressions_minor=MINOR_SIMPLE,
        moods_major=("graceful", "elegant", "joyful", "pastoral", "tender", "serene"),
        moods_minor=("melancholic", "somber", "yearning", "dramatic", "wistful", "solemn"),
        optional_roles={"pad": 0.5, "arp": 0.4, "lead": 1.0, "counter": 0.5},
        triple_meter_probability=0.25, melody_density=0.55, lead_register=(67, 91), fills=False),
    "folk": StyleSpec(
        tempo_range_bpm=(90.0, 130.0), minor_probability=0.35, modes=("mixolydian",), mode_probability=0.12,
        programs={"chords": (25, 24, 21, 105), "bass": (32, 33, 43), "lead": (110, 73, 21, 105, 22, 41),
                  "pad": (21, 48), "arp": (25, 105, 46)},
        drum_patterns=("folk",), drum_probability=0.5, drum_kits=(40, 0, 8),
        bass_patterns=("root_fifth",), chord_rhythms=("strum",),
        progressions_major=MAJOR_SIMPLE, progressions_minor=MINOR_SIMPLE,
        moods_major=("cheerful", "rustic", "warm", "carefree", "pastoral", "hopeful"),
        moods_minor=("wistful", "melancholic", "haunting", "somber", "earthy"),
        optional_roles={"pad": 0.2, "arp": 0.3, "lead": 0.9}, triple_meter_probability=0.2,
        lead_register=(64, 88)),
    "disco": StyleSpec(
        tempo_range_bpm=(110.0, 128.0), minor_probability=0.4, modes=("dorian",), mode_probability=0.08,
        programs={"chords": (27, 4, 48, 0), "bass": (33, 38, 34), "lead": (48, 61, 62, 81),
                  "pad": (48, 49, 50), "arp": (27, 81)},
        drum_patterns=("disco",), drum_probability=1.0, drum_kits=(0, 24),
        bass_patterns=("octave8",), chord_rhythms=("stabs", "funk_chops"),
        progressions_major=MAJOR_POP, progressions_minor=MINOR_POP,
        moods_major=("euphoric", "glamorous", "joyful", "upbeat", "danceable"),
        moods_minor=("sultry", "moody", "driving", "nocturnal"),
        optional_roles={"pad": 0.6, "arp": 0.3, "lead": 0.7}, seventh_probability=0.5),
    "synthwave": StyleSpec(
        tempo_range_bpm=(80.0, 118.0), minor_probability=0.7, modes=(), mode_probability=0.0,
        programs={"chords": (89, 90, 81, 62), "bass": (38, 39, 81), "lead": (81, 80, 82, 62),
                  "pad": (89, 90, 91, 95), "arp": (81, 80, 98)},
        drum_patterns=("synthwave",), drum_probability=1.0, drum_kits=(24, 25, 16),
        bass_patterns=("root8",), chord_rhythms=("sustain",),
        progressions_major=MAJOR_POP, progressions_minor=MINOR_POP,
        moods_major=("nostalgic", "retro", "bright", "euphoric", "cinematic"),
        moods_minor=("nocturnal", "nostalgic", "moody", "cinematic", "dark"),
        optional_roles={"pad": 0.7, "arp": 0.8, "lead": 0.7}),
    "bossa nova": StyleSpec(
        tempo_range_bpm=(120.0, 145.0), minor_probability=0.4, modes=(), mode_probability=0.0,
        programs={"chords": (24, 0, 4), "bass": (32, 33), "lead": (73, 65, 66, 11, 22),
                  "pad": (48, 89), "arp": (24, 11)},
        drum_patterns=("bossa",), drum_probability=1.0, drum_kits=(32, 40, 0),
        bass_patterns=("bossa",), chord_rhythms=("bossa",),
        progressions_major=MAJOR_JAZZ, progressions_minor=MINOR_JAZZ,
        moods_major=("breezy", "relaxed", "romantic", "sunny", "gentle"),
        moods_minor=("wistful", "saudade", "melancholic", "sultry", "tender"),
        optional_roles={"pad": 0.3, "arp": 0.0, "lead": 0.8}, seventh_probability=1.0),
    "trance": StyleSpec(
        tempo_range_bpm=(132.0, 142.0), minor_probability=0.75, modes=(), mode_probability=0.0,
        programs={"chords": (81, 90, 89), "bass": (38, 39, 81), "lead": (81, 80, 84),
                  "pad": (89, 90, 91, 94), "arp": (81, 80, 87)},
        drum_patterns=("four_on_floor",), drum_probability=1.0, drum_kits=(24, 25),
        bass_patterns=("offbeat",), chord_rhythms=("sustain", "stabs"),
        progressions_major=MAJOR_POP, progressions_minor=MINOR_POP,
        moods_major=("euphoric", "uplifting", "soaring", "energetic"),
        moods_minor=("emotional", "dark", "driving", "epic", "hypnotic"),
        optional_roles={"pad": 0.8, "arp": 0.9, "lead": 0.7}, melody_density=0.45),
}
