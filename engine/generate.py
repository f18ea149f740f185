"""The one generation API: prompts + weights, CFG, steps, sampler, seed, controls, context -> latent / audio.

Everything that makes sound goes through `Generator`: the instrument's engine thread (one chunk at a
time, `generate_chunk`), `cascade render` (any length by chunked continuation, `render`), the quality
benchmark, audio-to-audio and inversion.

Shapes: normalised latent (latent_channels, frames) at hop 1024 (~43 frames/s); audio (2, samples) at
44.1 kHz float32. Descriptor curves are given in their natural units (loudness dBFS, brightness =
spectral centroid Hz, noisiness = spectral flatness 0..1, onset density onsets/s), as a scalar (held for
the whole request) or an array with one value per latent frame of the whole render; so is a chroma curve
(frames, 12) for a model trained with the harmony control (engine/harmony.py turns chords into one).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from engine.codec.checkpoint import DEFAULT_WEIGHTS, load_autoencoder
from engine.codec.model import MagnitudeAutoencoder
from engine.codec.phase import PhaseState
from engine.diffusion.checkpoint import DEFAULT_DIFFUSION_WEIGHTS, load_diffusion, read_diffusion_metadata
from engine.diffusion.conditioning import Conditioning
from engine.diffusion.controls import (beat_clock, build_controls, descriptor_targets, harmony_targets,
                                       without_controls)
from engine.diffusion.guidance import guided_denoiser, pin_context
from engine.diffusion.sampling import SAMPLERS, invert, karras_sigmas, slerp
from engine.diffusion.text import PromptEncoder, PromptEncoderError
from engine.diffusion.unet import UNet1D, VDenoiser
from engine.harmony import key_chroma
from engine.limits import RENDER_SECONDS_MAX
from engine.optimise import LIVE_TOKEN_BUCKET, TOKEN_BUCKET, TracedNetwork
from engine.render_peak import under_peak
from engine.request import DESCRIPTOR_ALIASES, GenerationError, GenerationRequest, request_to_json
from engine.vocabulary import NO_KEY, NO_SCALE, scale_index, tonic_index

SIGMA_MAX = 80.0
SIGMA_MIN = 0.02


@dataclass
class ChunkResult:
    """One generated window (Generator.generate_chunk)."""

    latent: torch.Tensor  # (latent_channels, window_frames) normalised, context frames included
    new_frames: int  # how many trailing frames are new (window_frames - context frames)


def _chunk_key(request: GenerationRequest, window_frames: int, start_frame: int, chunk_index: int) -> str:
    """Everything a fresh chunk depends on, as text (descriptor curves included)."""
    return json.dumps([request_to_json(request), window_frames, start_frame, chunk_index], sort_keys=True)


def _guided_parts(request: GenerationRequest) -> tuple[str, ...]:
    """The control parts (without_controls' names) CFG's unconditional branch leaves out: "chords" is the harmony
    where the request brings its own chroma curve, nothing where the chroma comes from the key."""
    parts = {"harmony" if name == "chords" else name for name in request.guided_controls
             if name != "chords" or request.chroma is not None}
    return tuple(sorted(parts))


def _curve_from(request: GenerationRequest, start_frame: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """The request's chroma curve and mask re-based so that `start_frame` of the render is row `local_start`:
    a curve that starts later (request.chroma_start_frame) is padded at its front with unmasked rows."""
    chroma, mask = np.asarray(request.chroma, dtype=np.float32), request.chroma_mask
    local_start = start_frame - request.chroma_start_frame
    if local_start >= 0:
        return chroma, mask, local_start
    given = np.ones(chroma.shape[0], np.float32) if mask is None else np.asarray(mask, dtype=np.float32)
    pad = -local_start
    return (np.concatenate([np.zeros((pad, chroma.shape[1]), np.float32), chroma]),
            np.concatenate([np.zeros(pad, np.float32), given]), 0)


def _noise(seed: int, chunk: int, shape: tuple[int, ...]) -> torch.Tensor:
    generator = torch.Generator().manual_seed((int(seed) * 1_000_003 + int(chunk)) % (2**63))
    return torch.randn(shape, generator=generator)


class Generator:
    """Owns the autoencoder, the U-Net and the prompt encoder; not thread-safe (one owner thread)."""

    def __init__(self, autoencoder: MagnitudeAutoencoder, network: UNet1D, prompt_encoder: PromptEncoder,
                 device: str | torch.device = "cpu", model_id: str = "unknown") -> None:
        self.device = torch.device(device)
        self.autoencoder = autoencoder.to(self.device).eval()
        self.network = network.to(self.device).eval()
        self.denoiser = VDenoiser(self.network)
        self.prompt_encoder = prompt_encoder
        self.model_id = model_id
        self.is_debug = False  # engine.debug_models' tiny random models (a re-render must use the same)
        # One fresh chunk computed ahead (prepare_first_chunk): (key, result), taken by the first matching call.
        self._prepared: tuple[str, ChunkResult] | None = None
        self._prepared_lock = threading.Lock()
        self.prepared_chunks_used = 0
        self.latent_channels = network.config.latent_channels
        self.harmony = bool(network.config.harmony_channels)  # has the chroma input (a model trained with it)
        self.frame_multiple = network.config.frame_multiple
        self.hop_frames = autoencoder.config.hop_frames
        self.sample_rate = autoencoder.config.sample_rate
        self.frame_seconds = self.hop_frames / self.sample_rate
        if autoencoder.config.latent_channels != self.latent_channels:
            raise GenerationError(f"autoencoder has {autoencoder.config.latent_channels} latent channels, "
                                  f"the U-Net {self.latent_channels}")

    @classmethod
    def load(cls, diffusion_path: str | Path = DEFAULT_DIFFUSION_WEIGHTS,
             autoencoder_path: str | Path = DEFAULT_WEIGHTS, device: str | torch.device = "cpu",
             traced: bool = False) -> "Generator":
        """The shipped (or given) models; raises CheckpointError on a missing or broken file.

        traced: on a CPU, run the TorchScript-traced and frozen U-Net (offline; benchmarks/realtime.py);
        each new input shape (batch, frames, token bucket) pays a one-off trace (~0.6 s on 2 cores) on its
        first call; the live engine uses `use_traced_network(background=True)` instead, which never waits.
        """
        network = load_diffusion(diffusion_path, device)
        extra = read_diffusion_metadata(diffusion_path)["extra"]
        model_id = f"{Path(diffusion_path).name}@{extra.get('steps', '?')}"
        generator = cls(load_autoencoder(autoencoder_path, device), network, PromptEncoder(device=str(device)),
                        device, model_id)
        if traced and generator.device.type == "cpu":
            generator.use_traced_network()
        return generator

    # --- conditioning ----------------------------------------------------------------------------
    def _text(self, request: GenerationRequest) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        try:
            tokens, token_weights, pooled = self.prompt_encoder.blend(list(request.prompts), list(request.weights))
            negative = None
            if request.negative_scale > 0 and request.negative_prompt.strip():
                n_tokens, n_mask, n_pooled = self.prompt_encoder.encode_batch([request.negative_prompt])
                negative = (n_tokens[0][n_mask[0]], n_pooled[0])
        except PromptEncoderError as error:
            raise GenerationError(f"prompt: {error}") from error
        text = {"tokens": tokens, "token_weights": token_weights, "pooled": pooled}
        if negative is None:
            return text, None
        return text, {"tokens": negative[0], "token_weights": torch.ones(negative[0].shape[0], device=self.device),
                      "pooled": negative[1]}

    def _descriptor_curves(self, request: GenerationRequest, start_frame: int, frames: int
                           ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if not request.descriptors:
            return None, None
        targets = [(DESCRIPTOR_ALIASES.get(name, name), value) for name, value in request.descriptors.items()]
        try:
            return descriptor_targets(targets, start_frame, frames)
        except ValueError as error:
            raise GenerationError(str(error)) from error

    def check_harmony(self, request: GenerationRequest) -> None:
        """GenerationError when `request` gives a chroma target and this model has no harmony channels."""
        if request.chroma is not None:
            self.require_harmony()

    def require_harmony(self) -> None:
        """GenerationError saying why, when this model has no harmony channels (chords cannot steer it)."""
        if not self.harmony:
            raise GenerationError(
                f"this model ({self.model_id}) was trained without the harmony control: it has no chroma input, so "
                f"chords or a chroma curve cannot steer it. Use a model trained with `cascade train diffusion "
                f"--harmony`; --key and --scale are taken as before")

    def _harmony(self, request: GenerationRequest, start_frame: int, frames: int
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The window's chroma profile (1, 12, frames) and mask (1, frames): the request's chroma curve, else
        (a harmony model only) what its key and scale give (request.key_harmony), else (None, None)."""
        self.check_harmony(request)
        if not self.harmony:
            return None, None
        try:
            if request.chroma is not None:
                chroma, mask, local_start = _curve_from(request, start_frame)
                return harmony_targets(chroma, mask, local_start, frames)
            if request.key and request.scale and request.key_harmony != "none":
                curve = key_chroma(request.key, request.scale, frames, request.key_harmony,
                                   tempo_bpm=request.tempo_bpm or None, start_frame=start_frame,
                                   beat_offset=request.beat_offset, beats_per_bar=request.beats_per_bar)
                return harmony_targets(curve.chroma, curve.mask, 0, frames)
        except ValueError as error:
            raise GenerationError(str(error)) from error
        return None, None

    def _conditioning(self, request: GenerationRequest, start_frame: int, frames: int,
                      context: torch.Tensor | None) -> tuple[Conditioning, Conditioning, Conditioning | None]:
        """cond, uncond and (optionally) negative conditioning, each with batch 1."""
        text, negative = self._text(request)
        descriptors, descriptor_mask = self._descriptor_curves(request, start_frame, frames)
        start_seconds = start_frame * self.frame_seconds
        tempo = torch.tensor([float(request.tempo_bpm or 0.0)])
        clock = None
        if request.clock and request.tempo_bpm:
            clock = beat_clock(torch.tensor([start_seconds]), tempo, frames, self.frame_seconds,
                               torch.tensor([request.beat_offset]))
        context_frames = 0 if context is None else int(context.shape[-1])
        chroma, chroma_mask = self._harmony(request, start_frame, frames)
        controls = build_controls(1, frames, self.latent_channels, descriptors=descriptors,
                                  descriptor_mask=descriptor_mask, clock=clock,
                                  context=None if context is None else context[None].cpu(),
                                  context_frames=context_frames, harmony=self.harmony, chroma=chroma,
                                  chroma_mask=chroma_mask)
        key = torch.tensor([tonic_index(request.key) if request.key else NO_KEY])
        scale = torch.tensor([scale_index(request.scale) if request.scale else NO_SCALE])
        timing = torch.tensor([[start_seconds, float(request.seconds_total or 0.0)]])
        if request.seconds_total is None:
            timing[:] = 0.0
        shared = {"controls": controls, "timing": timing}

        def text_dict(source: dict[str, torch.Tensor], length: int) -> dict[str, torch.Tensor]:
            tokens = torch.zeros(1, length, source["tokens"].shape[-1])
            mask = torch.zeros(1, length, dtype=torch.bool)
            weights = torch.ones(1, length)
            count = source["tokens"].shape[0]
            tokens[0, :count] = source["tokens"].cpu()
            mask[0, :count] = True
            weights[0, :count] = source["token_weights"].cpu()
            return {"tokens": tokens, "token_mask": mask, "token_weights": weights, "pooled": source["pooled"].cpu()[None]}

        length = max(text["tokens"].shape[0], 0 if negative is None else negative["tokens"].shape[0])
        cond = Conditioning(**text_dict(text, length), **shared, tempo_bpm=tempo, key=key, scale=scale)
        # the guided controls are left out of the unconditional branch: CFG amplifies them as it does the text
        uncond_shared = shared | {"controls": without_controls(controls, _guided_parts(request), self.latent_channels)}
        uncond = Conditioning(tokens=torch.zeros(1, length, text["tokens"].shape[-1]),
                              token_mask=torch.zeros(1, length, dtype=torch.bool), token_weights=torch.ones(1, length),
                              pooled=torch.zeros(1, text["pooled"].shape[-1]), **uncond_shared,
                              tempo_bpm=torch.zeros(1), key=torch.tensor([NO_KEY]), scale=torch.tensor([NO_SCALE]))
        neg = None if negative is None else Conditioning(**text_dict(negative, length), **shared, tempo_bpm=tempo,
                                                         key=key, scale=scale)
        return (self._with_cross_keys(cond), self._with_cross_keys(uncond),
                None if neg is None else self._with_cross_keys(neg))

    def _with_cross_keys(self, conditioning: Conditioning) -> Conditioning:
        """On the device, with the U-Net's cross-attention keys of its text made once for the whole chunk (they
        do not change between steps; at the live 256-token bucket they were half of a step's compute)."""
        conditioning = conditioning.to(self.device)
        return replace(conditioning, cross_keys=self.network.cross_keys(conditioning))

    def _guided_denoiser(self, request: GenerationRequest, cond: Conditioning, uncond: Conditioning,
                         negative: Conditioning | None, context: torch.Tensor | None
                         ) -> tuple[Callable[..., torch.Tensor], dict]:
        guided, extra = guided_denoiser(self.denoiser, cond, uncond, negative, cfg_scale=request.cfg_scale,
                                        negative_scale=request.negative_scale,
                                        descriptor_guidance=request.descriptor_guidance,
                                        latent_channels=self.latent_channels)
        return (guided, extra) if context is None else (pin_context(guided, context.to(self.device)), extra)

    # --- generation ------------------------------------------------------------------------------
    def initial_noise(self, request: GenerationRequest, chunk_index: int, frames: int) -> torch.Tensor:
        shape = (1, self.latent_channels, frames)
        noise = _noise(request.seed, chunk_index, shape)
        if request.variation > 0:
            noise = slerp(noise, _noise(request.seed + 7919, chunk_index, shape), request.variation)
        return noise.to(self.device)

    @torch.no_grad()
    def generate_chunk(self, request: GenerationRequest, window_frames: int, *, context: torch.Tensor | None = None,
                       start_frame: int = 0, chunk_index: int = 0, initial: torch.Tensor | None = None,
                       sigma_start: float = SIGMA_MAX, step_callback: Callable[[int], None] | None = None,
                       pin_frames: int | None = None) -> ChunkResult:
        """One window of `window_frames` latent frames; `context` (latent_channels, C) are its first C frames.

        pin_frames: how many leading context frames the model is shown and lands on exactly (default all C); the
        other C - pin_frames are generated afresh, unseen, as an overlap to crossfade into: a model copies what it
        is shown and starts its own material where that ends, so this puts the start under the crossfade, not at
        the join (docs/diffusion.md, "Seams": 1.30 -> 1.06).
        start_frame: the window's first frame in the whole performance (sets the clock, timing and the
        slice of descriptor curves). initial: a latent to start from at sigma_start (audio-to-audio).
        """
        request = request.validated()
        if self._prepared is not None and context is None and initial is None and sigma_start == SIGMA_MAX \
                and pin_frames is None and step_callback is None:
            with self._prepared_lock:
                prepared, self._prepared = self._prepared, None  # one shot: a miss drops it too
            if prepared is not None and prepared[0] == _chunk_key(request, window_frames, start_frame, chunk_index):
                self.prepared_chunks_used += 1
                return prepared[1]
        if window_frames % self.frame_multiple or window_frames <= 0:
            raise GenerationError(f"window_frames must be a positive multiple of {self.frame_multiple}")
        if context is not None and not 0 < context.shape[-1] < window_frames:
            raise GenerationError(f"context of {context.shape[-1]} frames does not fit a window of {window_frames}")
        if context is not None and pin_frames is not None:
            if not 0 < pin_frames <= context.shape[-1]:
                raise GenerationError(f"pin_frames must be in 1..{context.shape[-1]} (the context's frames)")
            context = context[:, :pin_frames]
        cond, uncond, negative = self._conditioning(request, start_frame, window_frames, context)
        denoiser, extra = self._guided_denoiser(request, cond, uncond, negative, context)
        sigmas = karras_sigmas(request.steps, SIGMA_MIN, sigma_start).to(self.device)
        noise = self.initial_noise(request, chunk_index, window_frames)
        x = noise * sigmas[0] if initial is None else initial[None].to(self.device) + noise * sigmas[0]
        callback = (lambda i, _denoised: step_callback(i)) if step_callback else None
        sampler = SAMPLERS[request.sampler]
        latent = sampler(denoiser, x, sigmas, extra_args=extra, callback=callback)[0]
        if not torch.isfinite(latent).all():
            raise GenerationError("the model produced NaN or inf")
        new_frames = window_frames - (0 if context is None else context.shape[-1])
        return ChunkResult(latent=latent, new_frames=new_frames)

    @torch.no_grad()
    def generate_latent(self, request: GenerationRequest, frames: int, *, window_frames: int = 128,
                        context_frames: int = 32, crossfade_frames: int = 0, source: torch.Tensor | None = None,
                        sigma_start: float = SIGMA_MAX,
                        progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """`frames` latent frames by chunked continuation: each window's first `context_frames` are the
        stream's last frames. With crossfade_frames K > 0 only the first C - K context frames are pinned;
        the model regenerates the last K and they are blended into the stream with a linear ramp (a
        latent crossfade over K * 23 ms). source: a normalised latent (latent_channels, >= 1 frames) each
        window starts from at sigma_start instead of pure noise (audio-to-audio; zeros past its end).
        Returns (latent_channels, frames), normalised."""
        if not 0 < context_frames < window_frames:
            raise GenerationError("context_frames must be in 1..window_frames-1")
        if not 0 <= crossfade_frames < context_frames:
            raise GenerationError("crossfade_frames must be in 0..context_frames-1")
        stream: torch.Tensor | None = None
        chunk = 0
        total_chunks = 1 + max(0, math.ceil((frames - window_frames) / (window_frames - context_frames)))
        while stream is None or stream.shape[-1] < frames:
            context = None if stream is None else stream[:, -context_frames:]
            start = 0 if stream is None else stream.shape[-1] - context_frames
            initial = None
            if source is not None:
                initial = torch.zeros(self.latent_channels, window_frames, device=self.device)
                piece = source[:, start:start + window_frames]
                initial[:, :piece.shape[-1]] = piece
            result = self.generate_chunk(request, window_frames, context=context, start_frame=start, chunk_index=chunk,
                                         pin_frames=None if context is None else context_frames - crossfade_frames,
                                         initial=initial, sigma_start=sigma_start)
            if stream is None:
                stream = result.latent
            else:
                if crossfade_frames:
                    ramp = torch.linspace(0, 1, crossfade_frames + 2, device=stream.device)[1:-1]
                    overlap = result.latent[:, context_frames - crossfade_frames:context_frames]
                    stream[:, -crossfade_frames:] = stream[:, -crossfade_frames:] * (1 - ramp) + overlap * ramp
                stream = torch.cat([stream, result.latent[:, context_frames:]], dim=-1)
            chunk += 1
            if progress:
                progress(min(chunk, total_chunks), total_chunks)
        return stream[:, :frames]

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, history: torch.Tensor | None = None, strict: bool = False) -> np.ndarray:
        """(latent_channels, frames) normalised -> (2, frames * hop) float32, finite: a stream of its own.

        NaN/inf samples are zeroed, or with `strict` raise GenerationError (the live engine reports them).
        history: normalised latent frames (latent_channels, h) that precede `latent` (decoded, then dropped).
        """
        return self.decode_continuing(latent, history, None, strict)[0]

    @torch.no_grad()
    def decode_continuing(self, latent: torch.Tensor, history: torch.Tensor | None, phase_state: PhaseState | None,
                          strict: bool = False) -> tuple[np.ndarray, list[PhaseState]]:
        """Decode `latent` (latent_channels, frames) as the continuation of a stream -> (audio (2, frames * hop),
        the decoder's phase state after each frame of `latent`).

        history: normalised latent frames (latent_channels, h) that precede `latent` in the stream (not
        returned): with at least the decoder's receptive field of them the magnitudes equal an uninterrupted
        decode's. phase_state: the stream's phase state before `latent`'s first frame (as returned for that
        frame by an earlier call; None: integrate from the first history frame), so the audio is what an
        uninterrupted decode gives and a chunk's partials continue those of the audio it is crossfaded with.
        Returns the states after each frame of `latent`.
        """
        skip = 0
        if history is not None and history.shape[-1] > 0:
            skip = history.shape[-1]
            latent = torch.cat([history.to(latent.device), latent], dim=-1)
        decoded, states = self.autoencoder.decoder.decode_continuing(
            self.autoencoder.denormalise(latent.to(self.device))[None], phase_state, skip)
        audio = decoded[0].float().cpu().numpy()
        if strict and not np.isfinite(audio).all():
            raise GenerationError("the decoder produced NaN or inf")
        return np.ascontiguousarray(np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0), dtype=np.float32), states

    @property
    def decoder_receptive_frames(self) -> int:
        """Latent frames of history the causal decoder needs for a seamless chunked decode."""
        return int(self.autoencoder.decoder.receptive_field_frames)

    def warm_up(self, window_frames: int) -> None:
        """A throw-away one-step guided chunk of `window_frames`: a TorchScript U-Net that traces its first shape
        inline traces the live engine's shape now (batch 2, the token bucket), not in a chunk a player waits
        for, and every other first-call cost of a chunk (the decoder's included, and torch's lazy imports) is
        paid here too.

        Like `prepare_first_chunk` it runs with TorchScript's executor optimisation off, on this thread only
        (the flag is thread-local): an optimising executor spends a new module's first two calls profiling
        (~3x slower each, 0.2-0.3 s here) before a first sound that gains nothing from it. The live engine's
        thread still optimises: its own first two calls profile, on the engine's clock, where the first
        chunk's lead covers them."""
        with torch.jit.optimized_execution(False):
            result = self.generate_chunk(GenerationRequest(prompts=("warm up",), cfg_scale=2.0, steps=1),
                                         window_frames)
            self.decode(result.latent)

    def prepare_first_chunk(self, request: GenerationRequest, window_frames: int) -> None:
        """Compute the fresh chunk (no context, stream start, chunk 0) that `request` gives and keep it: the next
        fresh `generate_chunk` call with the same request, window, start and index returns it instead of
        computing it again (same inputs, same function: the same latent). The app does this while its window is
        built, so the first sound does not wait for the first chunk. Any other fresh call drops it. Runs with
        the executor's optimisation off on this thread (see `warm_up`)."""
        with torch.jit.optimized_execution(False):
            result = self.generate_chunk(request, window_frames)
        with self._prepared_lock:
            self._prepared = (_chunk_key(request.validated(), window_frames, 0, 0), result)

    def use_traced_network(self, background: bool = False, trace_first_inline: bool = True) -> None:
        """Switch CPU inference to the TorchScript U-Net (engine.optimise; same outputs).

        background (the live engine): new shapes run eager while a tracer thread traces them (the first one
        inline unless trace_first_inline is False: then the tracer waits for `release_tracer()`), and tokens
        pad to one wide bucket so new shapes are rare. Otherwise the first call of each shape traces it
        inline (offline rendering)."""
        if not isinstance(self.network, TracedNetwork):
            self.network = TracedNetwork(self.network, background=background,  # type: ignore[assignment]
                                         token_bucket=LIVE_TOKEN_BUCKET if background else TOKEN_BUCKET,
                                         trace_first_inline=trace_first_inline)
            self.denoiser.network = self.network  # type: ignore[assignment]

    # The background tracer (engine.optimise.TracedNetwork), as the live session sees it: each of these is a
    # no-op answer when the network is not a TracedNetwork.

    @property
    def tracing(self) -> bool:
        """Whether the background tracer is tracing shapes now: it then holds this process's GIL for up to
        ~30 ms at a time, and the live session's feeder keeps a longer dry lead meanwhile."""
        return isinstance(self.network, TracedNetwork) and self.network.tracing

    def release_tracer(self) -> None:
        """Let a background tracer that waits for the first sound start tracing (see use_traced_network)."""
        if isinstance(self.network, TracedNetwork):
            self.network.release_tracer()

    def settle_tracer(self, timeout_s: float = 15.0) -> bool:
        """Before the process may exit: drop the shapes still waiting for the tracer and wait for the one being
        traced (a trace inside torch at interpreter shutdown aborts the process). False if it outlasted
        `timeout_s`; True with no background tracer."""
        return self.network.settle(timeout_s) if isinstance(self.network, TracedNetwork) else True

    @torch.no_grad()
    def encode(self, audio: np.ndarray) -> torch.Tensor:
        """(2, samples) float at 44.1 kHz -> normalised latent (latent_channels, samples // hop)."""
        frames = audio.shape[-1] // self.hop_frames
        if frames < 1:
            raise GenerationError("audio shorter than one latent frame")
        wave = torch.from_numpy(np.ascontiguousarray(audio[:, :frames * self.hop_frames], dtype=np.float32))[None]
        return self.autoencoder.normalise(self.autoencoder.encode(wave.to(self.device)))[0]

    def render(self, request: GenerationRequest, seconds: float, *, window_frames: int = 128, context_frames: int = 32,
               crossfade_frames: int = 8, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Audio (2, round(seconds * 44100)) of any length by chunked continuation, peak below RENDER_PEAK."""
        if not (math.isfinite(seconds) and 0 < seconds <= RENDER_SECONDS_MAX):
            raise GenerationError(f"seconds must be in (0, {RENDER_SECONDS_MAX:g}], got {seconds}")
        samples = int(round(seconds * self.sample_rate))
        frames = math.ceil(samples / self.hop_frames)
        if request.seconds_total is None:
            request = replace(request, seconds_total=float(seconds))
        # The crossfade never takes the whole context: at least one frame stays pinned to anchor the chunk.
        crossfade_frames = max(0, min(crossfade_frames, context_frames - 1))
        latent = self.generate_latent(request, frames, window_frames=window_frames, context_frames=context_frames,
                                      crossfade_frames=crossfade_frames, progress=progress)
        # strict: a decoder that overflows says so instead of writing a file of zeroed stretches.
        return under_peak(self.decode(latent, strict=True)[:, :samples])

    def audio_to_audio(self, audio: np.ndarray, request: GenerationRequest, strength: float) -> np.ndarray:
        """Riffusion's img2img in latent space: encode, noise to `strength` (0 keeps the input, 1 ignores
        it), denoise under the request's prompts. Long inputs go window by window with continuation."""
        if not 0.0 < strength <= 1.0:
            raise GenerationError(f"strength must be in (0, 1], got {strength}")
        sigma_start = float(np.clip(math.tan(strength * math.pi / 2), SIGMA_MIN * 2, SIGMA_MAX))
        source = self.encode(audio)
        latent = self.generate_latent(request, source.shape[-1], window_frames=128, context_frames=32, source=source,
                                      sigma_start=sigma_start)
        out = np.zeros_like(audio[:2], dtype=np.float32)
        decoded = self.decode(latent, strict=True)
        out[:, :decoded.shape[-1]] = decoded[:, :out.shape[-1]]  # the tail under one latent frame stays silent
        return under_peak(out)

    @torch.no_grad()
    def invert_latent(self, latent: torch.Tensor, request: GenerationRequest, steps: int = 50) -> torch.Tensor:
        """Deterministic DDIM inversion of a normalised latent window to noise at SIGMA_MAX (CFG as requested)."""
        request = request.validated()
        cond, uncond, negative = self._conditioning(request, 0, latent.shape[-1], None)
        denoiser, extra = self._guided_denoiser(request, cond, uncond, negative, None)
        sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX).to(self.device)
        return invert(denoiser, latent[None].to(self.device), sigmas, extra_args=extra)[0]

    @torch.no_grad()
    def sample_from_noise(self, noise_latent: torch.Tensor, request: GenerationRequest, steps: int = 50) -> torch.Tensor:
        """The Euler/DDIM sampler from a given noise (the inverse of invert_latent)."""
        request = request.validated()
        cond, uncond, negative = self._conditioning(request, 0, noise_latent.shape[-1], None)
        denoiser, extra = self._guided_denoiser(request, cond, uncond, negative, None)
        sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX).to(self.device)
        return SAMPLERS["euler"](denoiser, noise_latent[None].to(self.device), sigmas, extra_args=extra)[0]
