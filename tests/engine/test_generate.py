"""The generation API on tiny random models: determinism, every control reaching the output, CFG,
continuation, inversion, audio-to-audio, bad requests (CPU, seconds)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.debug_models import debug_generator
from engine.diffusion.controls import without_controls
from engine.diffusion.text import PromptEncoder
from engine.diffusion.unet import AttentionBlock
from engine.generate import Generator
from engine.harmony import progression_chroma, scale_profile
from engine.optimise import LIVE_TOKEN_BUCKET, TracedNetwork
from engine.request import GenerationError, GenerationRequest

WINDOW = 32


@pytest.fixture(scope="module")
def generator() -> Generator:
    torch.set_num_threads(1)
    return debug_generator(0, PromptEncoder())


BASE = GenerationRequest(prompts=("warm jazz trio with brushed drums",), steps=4, seed=3, tempo_bpm=120.0, key="D",
                         scale="minor")


def chunk(generator: Generator, request: GenerationRequest, **kwargs: object) -> torch.Tensor:
    return generator.generate_chunk(request, WINDOW, **kwargs).latent


def test_same_seed_same_latent_and_other_seed_differs(generator: Generator) -> None:
    a = chunk(generator, BASE)
    b = chunk(generator, BASE)
    c = chunk(generator, replace(BASE, seed=4))
    assert torch.equal(a, b)
    assert (a - c).abs().mean() > 0.1


@pytest.mark.parametrize("change", [
    {"prompts": ("distorted rock guitar riff",)},
    {"tempo_bpm": 174.0},
    {"key": "F#"},
    {"scale": "major"},
    {"descriptors": {"loudness": -10.0}},
    {"descriptors": {"brightness": 6000.0}},
    {"descriptors": {"noisiness": 0.3}},
    {"descriptors": {"density": 8.0}},
    {"cfg_scale": 6.0},
    {"variation": 0.5},
    {"beat_offset": 0.5},
    {"seconds_total": 30.0},
    {"negative_prompt": "drums", "negative_scale": 2.0},
])
def test_each_control_changes_the_output(generator: Generator, change: dict) -> None:
    reference = chunk(generator, BASE)
    changed = chunk(generator, replace(BASE, **change))
    assert (reference - changed).abs().mean() > 1e-4, change


def test_prompt_blend_weights_move_the_output_between_the_prompts(generator: Generator) -> None:
    prompts = ("slow ambient pad", "fast techno drums")
    a = chunk(generator, replace(BASE, prompts=prompts, weights=(1.0, 0.0)))
    mid = chunk(generator, replace(BASE, prompts=prompts, weights=(0.5, 0.5)))
    b = chunk(generator, replace(BASE, prompts=prompts, weights=(0.0, 1.0)))
    only_a = chunk(generator, replace(BASE, prompts=prompts[:1]))
    assert torch.allclose(a, only_a, atol=1e-5)  # weight 0 ignores a prompt
    assert (a - mid).abs().mean() > 1e-4 and (b - mid).abs().mean() > 1e-4


def test_cfg_scale_one_is_the_conditional_model(generator: Generator) -> None:
    request = replace(BASE, cfg_scale=1.0)
    cond, _, _ = generator._conditioning(request, 0, WINDOW, None)
    guided, extra = generator._guided_denoiser(request, *generator._conditioning(request, 0, WINDOW, None), None)
    x = torch.randn(1, generator.latent_channels, WINDOW)
    sigma = torch.tensor([2.0])
    assert torch.allclose(guided(x, sigma, **extra), generator.denoiser(x, sigma, cond), atol=1e-6)
    # and CFG scale 0 is the unconditional model: the prompt no longer matters
    off_a = chunk(generator, replace(BASE, cfg_scale=0.0))
    off_b = chunk(generator, replace(BASE, cfg_scale=0.0, prompts=("anything else entirely",)))
    assert torch.allclose(off_a, off_b, atol=1e-6)


def test_continuation_reproduces_the_context_frames(generator: Generator) -> None:
    first = chunk(generator, BASE)
    context = first[:, -8:]
    second = chunk(generator, BASE, context=context, start_frame=WINDOW - 8, chunk_index=1)
    assert torch.allclose(second[:, :8], context, atol=1e-5)
    assert (second[:, 8:] - first[:, 8:]).abs().mean() > 1e-3  # new frames are new
    partly = chunk(generator, BASE, context=context, start_frame=WINDOW - 8, chunk_index=1, pin_frames=4)
    assert torch.allclose(partly[:, :4], context[:, :4], atol=1e-5)
    assert not torch.allclose(partly[:, 4:8], context[:, 4:8], atol=1e-3)
    # the unpinned context frames (the caller's crossfade overlap) are not shown to the model at all
    other_tail = context.clone()
    other_tail[:, 4:] = torch.randn(context.shape[0], 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(chunk(generator, BASE, context=other_tail, start_frame=WINDOW - 8, chunk_index=1, pin_frames=4),
                       partly)
    with pytest.raises(GenerationError, match="pin_frames"):
        chunk(generator, BASE, context=context, start_frame=WINDOW - 8, chunk_index=1, pin_frames=0)


@pytest.mark.parametrize("traced", [False, True])
def test_the_texts_cross_attention_keys_are_made_once_a_chunk_not_once_a_step(
        traced: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # They depend on the text only; made at every step they were half of a live step's compute (256-token bucket).
    generator = debug_generator(0, PromptEncoder())
    if traced:
        generator.network = TracedNetwork(generator.network, token_bucket=LIVE_TOKEN_BUCKET)
        generator.denoiser.network = generator.network
    made: list[int] = []
    projection = AttentionBlock.cross_keys
    monkeypatch.setattr(AttentionBlock, "cross_keys",
                        lambda block, tokens: made.append(tokens.shape[0]) or projection(block, tokens))
    counts = []
    for steps in (2, 8):
        made.clear()
        chunk(generator, replace(BASE, steps=steps))
        counts.append(len(made))
    blocks = sum(isinstance(module, AttentionBlock) for module in generator.network.modules())
    assert counts == [2 * blocks, 2 * blocks]  # the prompt's and CFG's null prompt, each once per block


def test_long_latent_is_the_requested_length_and_deterministic(generator: Generator) -> None:
    calls: list[tuple[int, int]] = []
    latent = generator.generate_latent(BASE, 70, window_frames=WINDOW, context_frames=8,
                                       progress=lambda done, total: calls.append((done, total)))
    assert latent.shape == (generator.latent_channels, 70)
    assert calls[-1][0] == calls[-1][1] == len(calls)
    again = generator.generate_latent(BASE, 70, window_frames=WINDOW, context_frames=8)
    assert torch.equal(latent, again)


def test_render_returns_finite_stereo_of_the_requested_length(generator: Generator) -> None:
    audio = generator.render(BASE, 1.5, window_frames=WINDOW, context_frames=8)
    assert audio.shape == (2, int(round(1.5 * 44100)))
    assert audio.dtype == np.float32 and np.isfinite(audio).all()


def test_inversion_round_trips(generator: Generator) -> None:
    request = replace(BASE, cfg_scale=1.0)
    source = chunk(generator, request)
    noise = generator.invert_latent(source, request, steps=200)
    assert noise.std() > 5  # near sigma_max: mostly noise
    back = generator.sample_from_noise(noise, request, steps=200)
    assert (back - source).abs().mean() < 0.05 * source.abs().mean()


def test_audio_to_audio_strength_controls_how_much_is_kept(generator: Generator) -> None:
    rng = np.random.default_rng(0)
    source = (0.1 * rng.standard_normal((2, 44100))).astype(np.float32)
    other = replace(BASE, prompts=("bright plucked harp",))
    light = generator.audio_to_audio(source, other, 0.1)
    heavy = generator.audio_to_audio(source, other, 1.0)
    assert light.shape == source.shape and np.isfinite(light).all()
    # Against the source's own round trip: the random debug codec's decode -> encode moves any latent a lot.
    source_latent = generator.encode(generator.decode(generator.encode(source))[:, :source.shape[1]])
    light_distance = (generator.encode(light) - source_latent).abs().mean()
    heavy_distance = (generator.encode(heavy) - source_latent).abs().mean()
    assert light_distance < heavy_distance
    with pytest.raises(GenerationError):
        generator.audio_to_audio(source, other, 0.0)


@pytest.mark.parametrize("prompt", ["", "   ", "\x00\x01"])
def test_empty_prompts_are_a_clear_error(generator: Generator, prompt: str) -> None:
    with pytest.raises(GenerationError, match="empty prompt"):
        chunk(generator, replace(BASE, prompts=(prompt,)))


def test_invalid_utf8_is_a_clear_error(generator: Generator) -> None:
    undecodable = b"caf\xe9 jazz".decode("utf-8", "surrogateescape")  # how argv carries invalid UTF-8
    with pytest.raises(GenerationError, match="UTF-8"):
        chunk(generator, replace(BASE, prompts=(undecodable,)))


def test_a_ten_thousand_character_prompt_is_truncated_not_refused(generator: Generator) -> None:
    long_prompt = "ambient drone with slow evolving pads " * 264  # ~10,000 characters
    assert len(long_prompt) >= 10_000
    latent = chunk(generator, replace(BASE, prompts=(long_prompt,)))
    assert torch.isfinite(latent).all()
    # the first 64 tokens decide: the same prompt cut after them gives the same output
    cut = chunk(generator, replace(BASE, prompts=(long_prompt[:1000],)))
    assert torch.allclose(latent, cut, atol=1e-5)


@pytest.mark.parametrize("change", [
    {"sampler": "nope"}, {"steps": 0}, {"cfg_scale": float("nan")}, {"tempo_bpm": 5000.0}, {"key": "H"},
    {"scale": "lydian-ish"}, {"weights": (0.0,)}, {"weights": (1.0, 1.0)}, {"variation": 2.0},
    {"descriptors": {"sparkle": 1.0}}, {"descriptors": {"loudness": float("inf")}},
    # issue 17: a NaN negative scale silently dropped the negative prompt; 1e9 rendered at 17x full scale
    {"negative_prompt": "drums", "negative_scale": float("nan")}, {"negative_prompt": "drums", "negative_scale": 1e9},
    {"variation": float("nan")}, {"tempo_bpm": float("nan")},
    {"chroma": np.ones((10, 11))}, {"chroma": -np.ones((10, 12))}, {"chroma": np.full((10, 12), np.nan)},
    {"chroma": np.ones((10, 12)), "chroma_mask": np.ones(9)}, {"chroma_mask": np.ones(10)},
    {"chroma": np.ones((10, 12)), "chroma_mask": np.full(10, 2.0)}, {"key_harmony": "chord"},
    {"beats_per_bar": 0}, {"beats_per_bar": 17}, {"beats_per_bar": 2.5}, {"beats_per_bar": float("nan")},
    {"guided_controls": ("loudness",)}, {"descriptor_guidance": -0.5},
])
def test_bad_requests_raise_generation_error(generator: Generator, change: dict) -> None:
    with pytest.raises(GenerationError):
        chunk(generator, replace(BASE, **change))


def test_descriptor_guidance_changes_the_output_only_where_curves_are_given(generator: Generator) -> None:
    curve = np.linspace(-30.0, -12.0, WINDOW)
    given = replace(BASE, descriptors={"loudness": curve})
    assert (chunk(generator, replace(given, descriptor_guidance=2.0))
            - chunk(generator, replace(given, descriptor_guidance=0.0))).abs().mean() > 1e-4
    # no curve given: nothing to guide, the same request
    assert torch.equal(chunk(generator, replace(BASE, descriptor_guidance=2.0)),
                       chunk(generator, replace(BASE, descriptor_guidance=0.0)))


def test_descriptor_guidance_is_cfg_plus_the_curves_own_term(generator: Generator) -> None:
    """denoised = uncond + cfg * (cond - uncond) + s * (cond - cond without the curves): checked against three
    plain denoiser calls."""
    request = replace(BASE, descriptors={"brightness": np.linspace(500.0, 4000.0, WINDOW)}, descriptor_guidance=1.5)
    cond, uncond, negative = generator._conditioning(request, 0, WINDOW, None)
    guided, extra = generator._guided_denoiser(request, cond, uncond, negative, None)
    bare = replace(cond, controls=without_controls(cond.controls, ("descriptors",), generator.latent_channels))
    x, sigma = torch.randn(1, generator.latent_channels, WINDOW), torch.tensor([2.0])
    with torch.no_grad():
        d_cond, d_uncond, d_bare = (generator.denoiser(x, sigma, conditioning=c) for c in (cond, uncond, bare))
        expected = d_uncond + request.cfg_scale * (d_cond - d_uncond) + 1.5 * (d_cond - d_bare)
        torch.testing.assert_close(guided(x, sigma, **extra), expected, rtol=1e-4, atol=1e-4)


def test_guided_controls_leave_the_clock_out_of_the_unconditional_branch(generator: Generator) -> None:
    clock = slice(8, 10)  # after the 4 descriptor curves and their 4 mask channels
    assert "clock" in BASE.guided_controls  # the default
    cond, uncond, _ = generator._conditioning(BASE, 0, WINDOW, None)
    assert cond.controls[0, clock].abs().sum() > 0 and not uncond.controls[0, clock].any()
    _, kept, _ = generator._conditioning(replace(BASE, guided_controls=()), 0, WINDOW, None)
    assert torch.equal(kept.controls, cond.controls)
    assert (chunk(generator, BASE) - chunk(generator, replace(BASE, guided_controls=()))).abs().mean() > 1e-4


def test_model_nan_is_reported_not_returned() -> None:
    broken = debug_generator(1)
    with torch.no_grad():
        broken.network.output.bias.fill_(float("nan"))
    with pytest.raises(GenerationError, match="NaN"):
        broken.generate_chunk(BASE, WINDOW)


def test_crossfaded_continuation_keeps_length_and_the_unpinned_stream_prefix(generator: Generator) -> None:
    plain = generator.generate_latent(BASE, 70, window_frames=WINDOW, context_frames=8)
    faded = generator.generate_latent(BASE, 70, window_frames=WINDOW, context_frames=8, crossfade_frames=3)
    assert faded.shape == plain.shape
    # the first window's frames before its crossfade region are untouched; the joins differ
    assert torch.equal(faded[:, :WINDOW - 3], plain[:, :WINDOW - 3])
    assert not torch.allclose(faded[:, WINDOW - 3:], plain[:, WINDOW - 3:])
    with pytest.raises(GenerationError):
        generator.generate_latent(BASE, 70, window_frames=WINDOW, context_frames=8, crossfade_frames=8)


def test_a_prepared_first_chunk_is_returned_once_and_only_for_the_same_request() -> None:
    """The app computes the engine's first chunk during its warm-up: the engine's own call gets exactly that
    result (equal to computing it then), once; another request, window or start computes afresh."""
    generator = debug_generator(0, PromptEncoder())
    request = GenerationRequest(prompts=("house groove", "strings"), weights=(1.0, 0.5), steps=3, seed=7,
                                descriptors={"brightness": np.linspace(500.0, 3000.0, 32)})
    expected = generator.generate_chunk(request, 32).latent
    generator.prepare_first_chunk(request, 32)
    got = generator.generate_chunk(request, 32)
    assert generator.prepared_chunks_used == 1 and torch.equal(got.latent, expected)
    again = generator.generate_chunk(request, 32)
    assert generator.prepared_chunks_used == 1 and torch.equal(again.latent, expected), "once; then computed"
    for other in (dict(request=replace(request, seed=8)), dict(request=request, window_frames=48),
                  dict(request=request, start_frame=16)):
        generator.prepare_first_chunk(request, 32)
        generator.generate_chunk(other["request"], other.get("window_frames", 32),
                                 start_frame=other.get("start_frame", 0))
        assert generator.prepared_chunks_used == 1, other
        assert generator.generate_chunk(request, 32) is not None and generator.prepared_chunks_used == 1, \
            "a miss drops the prepared chunk"


def test_under_peak_scales_only_audio_above_the_ceiling() -> None:
    from engine.render_peak import RENDER_PEAK, under_peak

    loud = np.array([[0.5, -1.4, 0.2]], np.float32)
    scaled = under_peak(loud)
    assert np.abs(scaled).max() == pytest.approx(RENDER_PEAK) and scaled[0, 0] == pytest.approx(0.5 * RENDER_PEAK / 1.4)
    quiet = np.array([[0.5, -0.8]], np.float32)
    assert under_peak(quiet) is quiet
    # The last stage before a file: NaN/inf become silence, and one of them must not turn the rest into NaN.
    broken = np.array([[0.5, np.nan, np.inf, -3.0]], np.float32)
    safe = under_peak(broken)
    assert np.isfinite(safe).all() and safe[0, 1] == 0.0 and safe[0, 2] == 0.0
    assert np.abs(safe).max() == pytest.approx(RENDER_PEAK)


def test_audio_to_audio_of_a_loud_input_stays_under_the_render_peak(generator: Generator) -> None:
    from engine.render_peak import RENDER_PEAK

    rng = np.random.default_rng(1)
    loud = np.clip(4.0 * rng.standard_normal((2, 44100)), -1.0, 1.0).astype(np.float32)  # square-ish full scale
    out = generator.audio_to_audio(loud, replace(BASE, cfg_scale=30.0), 0.2)
    assert np.isfinite(out).all() and np.abs(out).max() <= RENDER_PEAK + 1e-6


# --- the harmony control ---------------------------------------------------------------------------------------
HARMONY_START = 2 * 4 + 2  # the harmony channels follow the context latent and its mask


@pytest.fixture(scope="module")
def harmony_generator(generator: Generator) -> Generator:
    return debug_generator(0, generator.prompt_encoder, harmony=True)


def _harmony_channels(generator: Generator, request: GenerationRequest, start_frame: int, frames: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The cond and uncond rows' harmony channels (13, frames) for a window."""
    cond, uncond, _ = generator._conditioning(request, start_frame, frames, None)
    start = HARMONY_START + generator.latent_channels + 1
    assert cond.controls.shape[1] == start + 13
    return cond.controls[0, start:], uncond.controls[0, start:]


def test_a_chroma_target_on_a_model_without_harmony_is_a_clear_error(generator: Generator) -> None:
    assert not generator.harmony
    curve = progression_chroma("Am F C G", 120.0, 100)
    with pytest.raises(GenerationError, match="trained without the harmony control"):
        chunk(generator, replace(BASE, chroma=curve.chroma, chroma_mask=curve.mask))
    with pytest.raises(GenerationError, match="trained without the harmony control"):
        generator.require_harmony()
    # key and scale alone: the controls it always had, and key_harmony means nothing to it
    cond, _, _ = generator._conditioning(BASE, 0, WINDOW, None)
    assert cond.controls.shape[1] == HARMONY_START + generator.latent_channels + 1
    assert torch.equal(chunk(generator, replace(BASE, key_harmony="tonic_chord")), chunk(generator, BASE))


def test_chroma_steers_a_harmony_model_and_is_sliced_per_chunk(harmony_generator: Generator) -> None:
    g = harmony_generator
    g.require_harmony()
    total = 100
    curve = progression_chroma("Am F N.C. G7", 200.0, total)  # a bar is 53.8 frames: chords change mid-window
    request = replace(BASE, tempo_bpm=None, seconds_total=None, chroma=curve.chroma, chroma_mask=curve.mask)
    whole, whole_uncond = _harmony_channels(g, replace(request, guided_controls=()), 0, total)
    assert torch.equal(whole, whole_uncond)  # not guided: in both of CFG's branches, like the descriptors
    guided, guided_uncond = _harmony_channels(g, replace(request, guided_controls=("harmony",)), 0, total)
    assert torch.equal(guided, whole) and not guided_uncond.any()  # guided: left out of the unconditional one
    assert "chords" in request.guided_controls  # the default guides chords the request brings ...
    _, default_uncond = _harmony_channels(g, request, 0, total)
    assert not default_uncond.any()
    keyed = replace(request, chroma=None, chroma_mask=None, key="D", scale="minor")
    key_cond, key_uncond = _harmony_channels(g, keyed, 0, total)  # ... not the chords a key implies
    assert key_cond.any() and torch.equal(key_cond, key_uncond)
    _, key_guided_uncond = _harmony_channels(g, replace(keyed, guided_controls=("harmony",)), 0, total)
    assert not key_guided_uncond.any()
    assert torch.equal(whole[12], torch.from_numpy(curve.mask))
    assert torch.equal(whole[:12], torch.from_numpy(curve.chroma).T * whole[12])
    for start in (0, 24, 48, 72):
        window, _ = _harmony_channels(g, request, start, WINDOW)
        end = min(start + WINDOW, total)
        assert torch.equal(window[:, :end - start], whole[:, start:end]) and not window[:, end - start:].any()
    # a chunk later in the render is the chunk at 0 of the curve cut there (no clock or timing in the way)
    later = chunk(g, request, start_frame=48, chunk_index=2)
    cut = replace(request, chroma=curve.chroma[48:], chroma_mask=curve.mask[48:])
    assert torch.equal(later, chunk(g, cut, start_frame=0, chunk_index=2))
    # and the chords reach the output, chunked renders included
    other = progression_chroma("C#m E B F#", 200.0, total)
    assert (chunk(g, request) - chunk(g, replace(request, chroma=other.chroma, chroma_mask=other.mask))).abs().mean() > 1e-4
    long = g.generate_latent(request, total, window_frames=WINDOW, context_frames=8)
    assert torch.equal(long, g.generate_latent(request, total, window_frames=WINDOW, context_frames=8))
    plain = g.generate_latent(replace(request, chroma=None, chroma_mask=None), total, window_frames=WINDOW,
                              context_frames=8)
    assert (long - plain).abs().mean() > 1e-4


def test_key_and_scale_give_a_harmony_model_the_key_progression_unless_told_otherwise(harmony_generator: Generator
                                                                                        ) -> None:
    g = harmony_generator
    bars, _ = _harmony_channels(g, BASE, 0, 200)  # D minor at 120 BPM: Dm Bb Gm Am, 86.1 frames a bar
    for frame, chord in ((10, {2, 5, 9}), (100, {10, 2, 5}), (180, {7, 10, 2})):
        assert set(torch.nonzero(bars[:12, frame] == 1.0).flatten().tolist()) == chord
    assert bars[12].all()
    later, _ = _harmony_channels(g, BASE, 150, 50)  # a later chunk continues the same bars
    assert torch.equal(later, bars[:, 150:])
    scale, _ = _harmony_channels(g, replace(BASE, key_harmony="scale"), 0, WINDOW)
    profile = torch.from_numpy(scale_profile("D", "minor"))
    assert torch.equal(scale[:12], profile[:, None].expand(-1, WINDOW)) and scale[12].all()
    tonic, _ = _harmony_channels(g, replace(BASE, key_harmony="tonic_chord"), 0, WINDOW)
    assert set(torch.nonzero(tonic[:12, 0]).flatten().tolist()) == {2, 5, 9}  # D F A
    none, _ = _harmony_channels(g, replace(BASE, key_harmony="none"), 0, WINDOW)
    assert not none.any()
    no_key, _ = _harmony_channels(g, replace(BASE, key=None, scale=None), 0, WINDOW)
    assert not no_key.any()
    # in 3/4 the same chords change every 3 beats: 64.6 frames a bar at 120 BPM
    waltz, _ = _harmony_channels(g, replace(BASE, beats_per_bar=3), 0, 200)
    for frame, chord in ((10, {2, 5, 9}), (70, {10, 2, 5}), (135, {7, 10, 2}), (199, {9, 0, 4})):
        assert set(torch.nonzero(waltz[:12, frame] == 1.0).flatten().tolist()) == chord
    chords = progression_chroma("Bb", 120.0, WINDOW)
    given, _ = _harmony_channels(g, replace(BASE, chroma=chords.chroma), 0, WINDOW)  # an explicit curve wins
    assert set(torch.nonzero(given[:12, 0]).flatten().tolist()) == {10, 2, 5}
