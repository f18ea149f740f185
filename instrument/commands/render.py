"""`cascade render` and `cascade reconstruct`: a prompt (or a blend of prompts) rendered offline to an audio
file, and an audio file round-tripped through the autoencoder."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.harmony import DEFAULT_BEATS_PER_BAR, KEY_HARMONY_SOURCES
from engine.limits import (BEATS_PER_BAR_RANGE, CFG_SCALE_RANGE, DESCRIPTOR_GUIDANCE_RANGE, NEGATIVE_SCALE_RANGE,
                           PROMPT_WEIGHT_MAX, RENDER_SECONDS_MAX, STEPS_RANGE, TEMPO_BPM_RANGE, VARIATION_RANGE)
from engine.read_words import DEFAULT_READ_WORDS, READ_WORDS_MODES
from engine.vocabulary import DESCRIPTOR_GUIDANCE_DEFAULT, DESCRIPTORS, GUIDED_CONTROLS, GUIDED_CONTROLS_DEFAULT
from instrument.arguments import guided_control_names, integer_in, knob_range, number_in, seed, thread_count

if TYPE_CHECKING:
    import numpy as np

    from engine.generate import Generator
    from engine.harmony import Chord
    from engine.prompt_words import PromptMusic
    from engine.read_words import ModelWords
    from engine.request import GenerationRequest

# --chords without a tempo (no --tempo, none in the prompt's words): the bars' tempo, given to the model too.
DEFAULT_CHORD_TEMPO_BPM = 120.0


def _parse_descriptor_args(args: argparse.Namespace) -> dict[str, float]:
    """The descriptor targets given (--loudness, --brightness, --noisiness, --density), by short name."""
    values = {d.short: getattr(args, d.short) for d in DESCRIPTORS}
    return {name: value for name, value in values.items() if value is not None}


def _cmd_render(args: argparse.Namespace) -> int:
    from engine.audio_file import AudioFileError, check_output_file, write_audio_file

    output = Path(args.output)
    try:
        check_output_file(output)  # before torch and the model load: a render can take an hour
    except AudioFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.input and not Path(args.input).is_file():
        print(f"error: {args.input}: no such file", file=sys.stderr)
        return 2
    try:
        chords = _parse_chords(args)  # before torch and the model: a typo costs nothing
    except ValueError as error:
        print(f"error: --chords: {error}", file=sys.stderr)
        return 2
    import torch

    from engine.codec.checkpoint import CheckpointError
    from engine.request import GenerationError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        request = _render_request(args, chords)  # --read-words model loads the reader: a broken file is said here
        request.validated()
        generator = _render_generator(args)
        if chords:
            generator.require_harmony()  # before any rendering: the shipped model has no harmony input
        elif generator.harmony and request.key and request.scale:
            print(f"harmony: {_key_harmony_text(request)} (--key-harmony)")
        audio = (_audio_to_audio(args, generator, request, chords) if args.input
                 else _render(args, generator, request, chords))
    except (GenerationError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        write_audio_file(output, audio, generator.sample_rate)  # atomic: a failed write leaves no partial file
    except AudioFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    peak = float(abs(audio).max()) if audio.size else 0.0
    print(f"wrote {output} ({audio.shape[1] / generator.sample_rate:.2f} s, peak {peak:.3f}, model {generator.model_id})")
    return 0


def _parse_chords(args: argparse.Namespace) -> tuple[Chord, ...]:
    """--chords parsed (empty without the flag); ValueError naming a bad chord."""
    from engine.harmony import parse_progression

    return parse_progression(args.chords) if args.chords is not None else ()


def _with_chords(request: GenerationRequest, chords: tuple[Chord, ...], frames: int) -> GenerationRequest:
    """The request with --chords as its chroma curve over `frames` latent frames, one chord a bar (of the request's
    beats) at its tempo."""
    from dataclasses import replace

    from engine.harmony import progression_chroma

    if not chords:
        return request
    curve = progression_chroma(chords, float(request.tempo_bpm or DEFAULT_CHORD_TEMPO_BPM), frames,
                               request.beats_per_bar)
    return replace(request, chroma=curve.chroma, chroma_mask=curve.mask)


def _key_harmony_text(request: GenerationRequest) -> str:
    """What the request's key and scale give a harmony model, in words (key_harmony)."""
    from engine.harmony import DEFAULT_BAR_TEMPO_BPM, key_progression, tonic_chord

    key, scale = str(request.key), str(request.scale)
    if request.key_harmony == "progression":
        chords = " ".join(chord.symbol for chord in key_progression(key, scale))
        tempo_bpm = request.tempo_bpm or DEFAULT_BAR_TEMPO_BPM
        return f"the key's changes {chords}, one a bar of {request.beats_per_bar} beats at {tempo_bpm:g} BPM, looped"
    if request.key_harmony == "scale":
        return f"the {key} {scale} scale profile"
    if request.key_harmony == "tonic_chord":
        return f"the tonic chord {tonic_chord(key, scale).symbol}, held"
    return "none (the key reaches the model through its key embedding only)"


def _say_what_the_model_hears_beyond(prompts: tuple[str, ...], read: tuple[PromptMusic, ...], model: ModelWords,
                                     flags: frozenset[str]) -> None:
    """Where the reading used has no tempo or no key and the trained words reader hears one, say so (and how to
    use it): a phrasing the rules do not know is then not lost silently. Nothing is changed; what a flag sets
    (`flags`: "tempo", "key") is not mentioned."""
    from engine.prompt_words import PromptMusic, tempo_refused
    from engine.weights_io import CheckpointError

    for i, (text, words) in enumerate(zip(prompts, read)):
        if (words.tempo_bpm is not None and words.key is not None) or not isinstance(text, str):
            continue
        try:
            heard = model.model_reading(text)
        except CheckpointError as error:  # a broken reader file must not stop a render
            print(f"(the words reader model could not be loaded: {error})")
            return
        tempo_unread = words.tempo_bpm is None and not tempo_refused(words) and "tempo" not in flags
        key_unread = words.key is None and "key" not in flags
        extra = PromptMusic(tempo_bpm=heard.tempo_bpm if tempo_unread else None,
                            key=heard.key if key_unread else None, scale=heard.scale if key_unread else None)
        if extra.tempo_bpm is not None or extra.key is not None:
            print(f"  the words reader model also hears in prompt {i + 1}: {extra.describe()} "
                  f"(not used; --read-words model uses it)")


def _render_request(args: argparse.Namespace, chords: tuple[Chord, ...] = ()) -> GenerationRequest:
    """The request the flags describe; tempo, key and scale the prompts' words state fill in for absent flags
    (read as --read-words says: engine/read_words.py), and what was understood is printed, so a misread is never
    silent. With --chords and no tempo the chords' bars run at DEFAULT_CHORD_TEMPO_BPM, and so does the request.
    Raises CheckpointError where --read-words model cannot load its reader."""
    from engine.prompt_words import PromptMusic, settle
    from engine.read_words import ModelWords, prompt_reader
    from engine.request import GenerationRequest

    prompts = tuple(args.prompt)
    weights = tuple(args.weight) if args.weight else tuple(1.0 for _ in prompts)
    tempo_bpm, key, scale, beats_per_bar = args.tempo, args.key, args.scale, args.beats_per_bar
    mode = "off" if args.no_prompt_words else args.read_words
    if len(prompts) == len(weights):  # else the request's own check says so
        # with --tempo the words' tempo is not used, so `both` need not load the reader for it
        reader = prompt_reader("rules" if mode == "both" and tempo_bpm is not None else mode)
        read = tuple(reader(p) if isinstance(p, str) else PromptMusic() for p in prompts)
        music = settle(read, weights, tempo_bpm, key, scale, beats_per_bar)
        if mode != "off":
            for i, words in enumerate(read):
                print(f"prompt {i + 1} says{' (the words reader model)' if mode == 'model' else ''}: "
                      f"{words.describe()}")
        if mode in ("rules", "both") and (tempo_bpm is None or key is None):  # with both flags the words set nothing
            model = reader if isinstance(reader, ModelWords) else ModelWords(rules_first=False)
            if model.load_error is None:
                flags = frozenset(name for name, flag in (("tempo", tempo_bpm), ("key", key)) if flag is not None)
                _say_what_the_model_hears_beyond(prompts, read, model, flags)
        print(f"using: {music.describe()}")
        tempo_bpm, key, scale, beats_per_bar = music.tempo_bpm, music.key, music.scale, music.beats_per_bar
    beats_per_bar = beats_per_bar or DEFAULT_BEATS_PER_BAR
    if chords:
        if tempo_bpm is None:
            tempo_bpm = DEFAULT_CHORD_TEMPO_BPM
            print(f"no tempo given: the chords' bars run at {tempo_bpm:g} BPM (--tempo sets it)")
        print(f"chords: {' '.join(chord.symbol for chord in chords)}, one a bar of {beats_per_bar} beats, looped")
    return GenerationRequest(prompts=prompts, weights=weights, negative_prompt=args.negative or "",
                             negative_scale=args.negative_scale if args.negative else 0.0,
                             cfg_scale=args.cfg, steps=args.steps, sampler=args.sampler, seed=args.seed,
                             variation=args.variation, tempo_bpm=tempo_bpm, key=key, scale=scale,
                             descriptors=_parse_descriptor_args(args), key_harmony=args.key_harmony,
                             beats_per_bar=beats_per_bar, guided_controls=args.guide_controls,
                             descriptor_guidance=args.descriptor_guidance)


def _render_generator(args: argparse.Namespace) -> Generator:
    """The offline generator: --weights or the shipped model, traced, on CUDA when present."""
    import torch

    from engine.generate import Generator

    kwargs = {"device": "cuda" if torch.cuda.is_available() else "cpu", "traced": True}
    if args.weights:
        kwargs["diffusion_path"] = args.weights
    return Generator.load(**kwargs)


def _audio_to_audio(args: argparse.Namespace, generator: Generator, request: GenerationRequest,
                    chords: tuple[Chord, ...] = ()) -> np.ndarray:
    """--input restyled by the request (--strength: how far from the input), --chords over its length."""
    from engine.codec.reconstruct import AudioInputError, read_audio_44k_stereo
    from engine.request import GenerationError

    try:
        source = read_audio_44k_stereo(Path(args.input), generator.sample_rate)
    except AudioInputError as error:
        raise GenerationError(str(error)) from error
    frames = -(-source.shape[-1] // generator.hop_frames)
    return generator.audio_to_audio(source, _with_chords(request, chords, frames), args.strength)


def _render(args: argparse.Namespace, generator: Generator, request: GenerationRequest,
            chords: tuple[Chord, ...] = ()) -> np.ndarray:
    """--seconds of the request, chunk by chunk, with a progress bar (unless --no-progress); --chords over it."""
    from tqdm import tqdm

    frames = math.ceil(round(args.seconds * generator.sample_rate) / generator.hop_frames)
    request = _with_chords(request, chords, frames)

    with tqdm(total=1, unit="chunk", desc="render", disable=args.no_progress) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        return generator.render(request, args.seconds, progress=progress)


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from engine.codec.checkpoint import DEFAULT_WEIGHTS, CheckpointError
    from engine.codec.reconstruct import AudioInputError, AudioOutputError, reconstruct_file

    try:
        report = reconstruct_file(Path(args.input), Path(args.output), Path(args.weights or DEFAULT_WEIGHTS))
    except (CheckpointError, AudioInputError, AudioOutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def _add_words_arguments(render: argparse.ArgumentParser) -> None:
    render.add_argument("--read-words", choices=READ_WORDS_MODES, default=DEFAULT_READ_WORDS,
                        help="what reads tempo/key/scale from the prompt's words into their controls: both (the "
                             "default: the rules, and the trained words reader's tempo where they read none, as in "
                             "'techno 128'), rules (exact patterns, engine/prompt_words.py), model (the trained words "
                             "reader alone, keys too), off (the diffusion model reads the text alone)")
    render.add_argument("--no-prompt-words", action="store_true", help="the same as --read-words off")


def add_render(commands: argparse._SubParsersAction) -> None:
    render = commands.add_parser("render", help="render a prompt (or a blend of prompts) to an audio file")
    render.add_argument("prompt", nargs="+", help="one or more prompts (blended by --weight)")
    render.add_argument("-o", "--output", required=True, help="output file: .flac, .wav, .aiff, .ogg, .mp3")
    render.add_argument("--seconds", type=number_in(0.0, RENDER_SECONDS_MAX, above_minimum=True), default=30.0)
    render.add_argument("--weight", type=number_in(0.0, PROMPT_WEIGHT_MAX), action="append",
                        help="blend weight per prompt, in order")
    render.add_argument("--negative", default=None, help="negative prompt (composable guidance)")
    render.add_argument("--negative-scale", type=number_in(*NEGATIVE_SCALE_RANGE), default=1.0,
                        help="how hard --negative pushes away (0..30)")
    render.add_argument("--cfg", type=number_in(*CFG_SCALE_RANGE), default=3.0,
                        help="classifier-free guidance scale (0: off; at most 30)")
    render.add_argument("--steps", type=integer_in(*STEPS_RANGE), default=16)
    render.add_argument("--sampler", default="dpmpp_2m", help="dpmpp_2m, euler or ddim")
    render.add_argument("--seed", type=seed, default=0)
    render.add_argument("--variation", type=number_in(*VARIATION_RANGE), default=0.0,
                        help="0..1, move away from the seed's noise")
    render.add_argument("--tempo", type=number_in(*TEMPO_BPM_RANGE, unit="BPM"), default=None, help="BPM")
    render.add_argument("--key", default=None, help="tonic, e.g. D or F#")
    render.add_argument("--scale", default=None, help="major, minor, dorian, mixolydian")
    render.add_argument("--chords", default=None,
                        help='a chord progression, one chord a bar, looped: "Am F C G" (N.C. = no chord); needs a '
                             "model trained with the harmony control")
    render.add_argument("--beats-per-bar", type=integer_in(*BEATS_PER_BAR_RANGE), default=None,
                        help="beats in a bar: each --chords chord lasts one, and so does each of the key's chord "
                             "changes (--key-harmony progression); default: the meter the prompt's words state "
                             f"(\"in 3/4\", \"6/8\", \"waltz\"), else {DEFAULT_BEATS_PER_BAR}")
    render.add_argument("--key-harmony", choices=KEY_HARMONY_SOURCES, default=KEY_HARMONY_SOURCES[0],
                        help="what --key/--scale give a harmony model without --chords: the key's diatonic chords "
                             "one a bar (I vi IV V; i VI iv v in minor; the default), its scale profile, its tonic "
                             "chord, or nothing")
    _add_words_arguments(render)
    render.add_argument("--loudness", type=knob_range("loudness_db"), default=None,
                        help="target loudness, dBFS RMS (e.g. -20)")
    render.add_argument("--brightness", type=knob_range("brightness_hz"), default=None,
                        help="target spectral centroid, Hz")
    render.add_argument("--noisiness", type=knob_range("noisiness"), default=None,
                        help="target spectral flatness, 0..1")
    render.add_argument("--density", type=knob_range("density"), default=None, help="target onsets per second")
    render.add_argument("--input", default=None, help="audio-to-audio: restyle this file instead")
    render.add_argument("--strength", type=number_in(0.0, 1.0, above_minimum=True), default=0.6,
                        help="audio-to-audio: near 0 keeps the input, 1 ignores it")
    render.add_argument("--weights", default=None, help="diffusion .safetensors (default: shipped)")
    render.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    render.add_argument("--no-progress", action="store_true")
    _add_guidance_arguments(render)
    render.set_defaults(func=_cmd_render)


def _add_guidance_arguments(render: argparse.ArgumentParser) -> None:
    """How hard the time-varying controls are followed: the beat clock under CFG, the descriptors' own scale."""
    render.add_argument("--guide-controls", type=guided_control_names, default=GUIDED_CONTROLS_DEFAULT,
                        metavar="NAMES",
                        help="the time-varying controls the --cfg scale also amplifies, comma-separated from "
                             f"{','.join(GUIDED_CONTROLS)}, or none (default: "
                             f"{','.join(GUIDED_CONTROLS_DEFAULT) or 'none'})")
    render.add_argument("--descriptor-guidance", type=number_in(*DESCRIPTOR_GUIDANCE_RANGE),
                        default=DESCRIPTOR_GUIDANCE_DEFAULT,
                        help="how hard --loudness/--brightness/--noisiness/--density are followed: their own guidance "
                             f"scale on top of --cfg (0: off; default {DESCRIPTOR_GUIDANCE_DEFAULT:g}; costs a third "
                             "pass of the U-Net)")


def add_reconstruct(commands: argparse._SubParsersAction) -> None:
    reconstruct = commands.add_parser("reconstruct", help="round-trip an audio file through the autoencoder")
    reconstruct.add_argument("input", help="any common audio file (WAV, FLAC, MP3, OGG; any rate)")
    reconstruct.add_argument("-o", "--output", required=True, help="output file (format from the extension)")
    reconstruct.add_argument("--weights", default=None, help="autoencoder .safetensors (default: shipped)")
    reconstruct.set_defaults(func=_cmd_reconstruct)
