"""Stage 1: the magnitude autoencoder.

The encoder reads the STFT magnitude of stereo 44.1 kHz audio (phase discarded, as in Moûsai's DMAE)
and emits a latent of `latent_channels` x (samples / 1024). The decoder is Vocos-style (ConvNeXt blocks, a
linear head per STFT frame) but predicts the log-magnitude only: the phase comes from phase-gradient heap
integration of that magnitude (engine/codec/phase.py), so every partial's phase advances at the partial's
own frequency. (The first decoder learned the phase per frame with magnitude-only losses; its output
repeated every 1024 samples and snapped every pitch to a multiple of 43.07 Hz: docs/autoencoder.md.)

Compression: 2 channels x 1024 samples -> 32 latent values per frame = 64x (exactly
channels * hop_frames / latent_channels).

The decoder is causal in latent frames (every convolution is left-padded), so streaming decoding is exact:
`StreamingDecoder` (engine/codec/streaming.py) keeps the last `receptive_field_frames` latent frames as context
and the iSTFT overlap-add tail and the phase integration's state, and its concatenated output equals `decode` on
the whole latent (tested).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from engine.codec.fine_low_band import FineLowBand, low_bin_corrections
from engine.codec.layers import (ConvNeXtBlock, OverlapAddISTFT, hann_window, causal_interpolation, polar,
                                 polar_from_log)
from engine.codec.phase import PhaseState, rtpghi_phase
from engine.codec.stereo import STEREO_PHASES, channel_magnitudes, channel_mean_log
from engine.vocabulary import AUDIO_CHANNELS, LATENT_HOP_FRAMES, SAMPLE_RATE
from engine.weights_io import config_from_dict


UPSAMPLERS = ("interpolate", "subpixel")


@dataclass(frozen=True)
class AutoencoderConfig:
    sample_rate: int = SAMPLE_RATE
    audio_channels: int = AUDIO_CHANNELS
    latent_channels: int = 32
    hop_frames: int = LATENT_HOP_FRAMES  # audio samples per latent frame (~43 latent frames per second)
    encoder_n_fft: int = 2048
    encoder_hop: int = 256
    encoder_dim: int = 256
    encoder_frame_blocks: int = 2
    encoder_latent_blocks: int = 3
    decoder_n_fft: int = 2048  # 21.5 Hz bins: the phase integration resolves partials down to ~40 Hz
    decoder_hop: int = 256
    decoder_latent_dim: int = 384
    decoder_latent_blocks: int = 4
    decoder_frame_dim: int = 256
    decoder_frame_blocks: int = 4
    kernel_size: int = 7
    # How a latent frame becomes frames_per_latent STFT frames: "interpolate" (one shared projection, then
    # causal linear interpolation between consecutive latent frames: no per-position weights, so no pattern
    # repeating every latent frame) or "subpixel" (a separate projection per position: codec v2.0, whose
    # magnitude carried a 4-frame ripple; files written before this field existed used it).
    decoder_upsample: str = "interpolate"
    # Bins 1..K-1 (K = decoder_frequency_bins; 0: none) get their instantaneous frequency corrected by a small
    # latent-rate branch (LowBinFrequency): at 21.5 Hz bins the shape of a 41-73 Hz partial's peak cannot place
    # it within cents, the latent can (docs/autoencoder.md, session 12).
    decoder_frequency_bins: int = 0
    decoder_frequency_dim: int = 192
    decoder_frequency_blocks: int = 3
    # With decoder_fine_n_fft > 0 those bins' frequency is instead read off a predicted fine-frequency magnitude
    # of the low band (FineLowBand: the lowest decoder_fine_bins bins of a decoder_fine_n_fft-point STFT, one
    # frame per latent frame), where a low note's partials are resolved (engine/codec/fine_low_band.py).
    decoder_fine_n_fft: int = 0
    decoder_fine_bins: int = 66  # 0-349 Hz at 8192 points
    # Where the channels' phase comes from: "shared" (one phase, integrated from the channels' mean magnitude,
    # for every channel: the latent keeps no phase, and a source panned by level, as a mix mostly is, has the
    # same phase in both) or "per_channel" (each channel integrated on its own, codecs v2.0-v2.4 until session
    # 25: unrelated phases in the quiet and noisy bins left real mixes' channels uncorrelated, 0.05 against the
    # input's 0.86, and their mono sum 2.4 dB quieter, 5.6 dB in its log-mel bands; docs/autoencoder.md). A
    # synthesis setting, no weights: files written before it existed decode with the shared phase.
    decoder_stereo_phase: str = "shared"

    @property
    def compression_ratio(self) -> float:
        return self.audio_channels * self.hop_frames / self.latent_channels

    @property
    def frames_per_latent(self) -> int:
        return self.hop_frames // self.decoder_hop

    def validate(self) -> None:
        if self.hop_frames % self.encoder_hop or self.hop_frames % self.decoder_hop:
            raise ValueError("hop_frames must be a multiple of the encoder and decoder STFT hops")
        if self.decoder_n_fft % self.decoder_hop:
            raise ValueError("decoder_n_fft must be a multiple of decoder_hop")
        if not 0 <= self.decoder_frequency_bins <= self.decoder_n_fft // 2 + 1:
            raise ValueError(f"decoder_frequency_bins must be in [0, {self.decoder_n_fft // 2 + 1}]")
        if self.decoder_fine_n_fft:
            per_bin = self.decoder_fine_n_fft // self.decoder_n_fft
            if self.decoder_fine_n_fft % self.decoder_n_fft or per_bin < 2:
                raise ValueError("decoder_fine_n_fft must be a multiple (>= 2) of decoder_n_fft")
            if not self.decoder_frequency_bins:
                raise ValueError("decoder_fine_n_fft needs decoder_frequency_bins > 0 (the bins it steers)")
            # the steered bins' centres and a fine bin beyond (partials above the fine band are not seen)
            if self.decoder_fine_bins < self.decoder_frequency_bins * per_bin + 2:
                raise ValueError(f"decoder_fine_bins must cover the steered bins: >= "
                                 f"{self.decoder_frequency_bins * per_bin + 2}")
        if self.decoder_upsample not in UPSAMPLERS:
            raise ValueError(f"decoder_upsample must be one of {UPSAMPLERS}, not {self.decoder_upsample!r}")
        if self.decoder_stereo_phase not in STEREO_PHASES:
            raise ValueError(f"decoder_stereo_phase must be one of {STEREO_PHASES}, not {self.decoder_stereo_phase!r}")

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> "AutoencoderConfig":
        # files from before decoder_upsample existed hold the sub-pixel decoder
        return config_from_dict(cls, data, "autoencoder", missing={"decoder_upsample": "subpixel"})


DEBUG_CONFIG = AutoencoderConfig(encoder_dim=32, encoder_frame_blocks=1, encoder_latent_blocks=1,
                                 decoder_latent_dim=48, decoder_latent_blocks=1, decoder_frame_dim=32,
                                 decoder_frame_blocks=1)


class MagnitudeEncoder(nn.Module):
    """audio (batch, audio_channels, samples) -> latent (batch, latent_channels, samples // hop_frames).

    samples must be a multiple of hop_frames. Only STFT magnitudes are used (phase is discarded).
    """

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        bins = config.encoder_n_fft // 2 + 1
        stride = config.hop_frames // config.encoder_hop
        self.input = nn.Conv1d(config.audio_channels * bins, config.encoder_dim, 1)
        self.frame_blocks = nn.Sequential(*[ConvNeXtBlock(config.encoder_dim, config.kernel_size, causal=False)
                                            for _ in range(config.encoder_frame_blocks)])
        self.downsample = nn.Conv1d(config.encoder_dim, config.encoder_dim, stride, stride=stride)
        self.latent_blocks = nn.Sequential(*[ConvNeXtBlock(config.encoder_dim, config.kernel_size, causal=False)
                                             for _ in range(config.encoder_latent_blocks)])
        self.output = nn.Conv1d(config.encoder_dim, config.latent_channels, 1)

    def magnitude_features(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, channels, samples) -> log-magnitude (batch, channels * bins, 4 * latent_frames)."""
        c = self.config
        batch, channels, samples = audio.shape
        if samples % c.hop_frames:
            raise ValueError(f"audio length {samples} is not a multiple of hop_frames={c.hop_frames}")
        spec = torch.stft(audio.reshape(batch * channels, samples), c.encoder_n_fft, c.encoder_hop,
                          window=hann_window(c.encoder_n_fft, audio.device), center=True, return_complex=True)
        frames = samples // c.encoder_hop
        magnitude = spec.abs()[..., :frames]
        return torch.log1p(magnitude).reshape(batch, channels * magnitude.shape[1], frames)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        h = self.frame_blocks(self.input(self.magnitude_features(audio)))
        h = self.latent_blocks(self.downsample(h))
        return self.output(h)


MAX_CORRECTION_BINS = 2.5  # a Hann window's main lobe is 4 bins wide: a bin reads a partial at most ~2 bins away


class LowBinFrequency(nn.Module):
    """latent (batch, latent_channels, T) -> frequency corrections (batch, audio_channels, T * frames_per_latent, K)
    in bins: bin k of that STFT frame advances at the frequency the phase integration reads off the magnitude
    plus correction * sample_rate / n_fft. The output layer starts at zero, so an untrained branch decodes as
    the decoder without it (a correction, not a replacement: the magnitude's reading is right for most bins
    and a fresh branch must not undo that; session 12, docs/autoencoder.md). Causal, latent-rate ConvNeXt
    blocks then the decoder's causal interpolation: tiny next to the magnitude path (43 frames a second)."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.decoder_frequency_dim
        self.input = nn.Conv1d(config.latent_channels, dim, 1)
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, config.kernel_size, causal=True)
                                     for _ in range(config.decoder_frequency_blocks)])
        self.norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, config.audio_channels * config.decoder_frequency_bins)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)
        self.register_buffer("interpolation", torch.arange(1, config.frames_per_latent + 1) / config.frames_per_latent,
                             persistent=False)

    @property
    def receptive_field_frames(self) -> int:
        return self.config.decoder_frequency_blocks * (self.config.kernel_size - 1) + 1

    def forward(self, latent: torch.Tensor, from_frame: int = 0) -> torch.Tensor:
        """Corrections for the STFT frames of latent frames [from_frame, T)."""
        c = self.config
        h = self.input(latent)
        for block in self.blocks:
            h = block(h)
        g = self.output(self.norm(h.transpose(1, 2))).transpose(1, 2)  # (batch, channels * K, T)
        previous = g[..., from_frame - 1:from_frame] if from_frame > 0 else None
        frames = causal_interpolation(g[..., from_frame:], self.interpolation, previous)
        batch = frames.shape[0]
        corrections = frames.reshape(batch, c.audio_channels, c.decoder_frequency_bins, -1).transpose(2, 3)
        return MAX_CORRECTION_BINS * torch.tanh(corrections / MAX_CORRECTION_BINS)


MAX_LOG_MAGNITUDE = 8.0  # e^8 ~ 3000: above a full-scale sine's 1024 (2048-point Hann window), so never reached


class WaveformDecoder(nn.Module):
    """latent (batch, latent_channels, latent_frames) -> audio (batch, audio_channels, latent_frames * hop_frames).

    The network predicts the log-magnitude of the decoder STFT (`log_magnitude`, differentiable, trained
    against the input's own STFT); `forward` gives it a phase by RTPGHI and inverts it. Causal in latent
    frames: every convolution is left-padded and the phase integration looks back one frame, so the
    spectral frames of latent frame t depend on latent frames <= t only.
    """

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Conv1d(config.latent_channels, config.decoder_latent_dim, 1)
        self.latent_blocks = nn.ModuleList([ConvNeXtBlock(config.decoder_latent_dim, config.kernel_size, causal=True)
                                            for _ in range(config.decoder_latent_blocks)])
        per_position = config.frames_per_latent if config.decoder_upsample == "subpixel" else 1
        self.upsample = nn.Linear(config.decoder_latent_dim, per_position * config.decoder_frame_dim)
        # causal interpolation weights of latent frame t for its STFT frames k = 0..K-1 ((k + 1) / K; the rest
        # comes from frame t - 1): the last STFT frame of a latent frame is that frame's own features
        self.register_buffer("interpolation", torch.arange(1, config.frames_per_latent + 1) / config.frames_per_latent,
                             persistent=False)
        self.frame_blocks = nn.ModuleList([ConvNeXtBlock(config.decoder_frame_dim, config.kernel_size, causal=True)
                                           for _ in range(config.decoder_frame_blocks)])
        self.norm = nn.LayerNorm(config.decoder_frame_dim)
        self.bins = config.decoder_n_fft // 2 + 1
        self.head = nn.Linear(config.decoder_frame_dim, config.audio_channels * self.bins)
        self.frequency = LowBinFrequency(config) if config.decoder_frequency_bins and not config.decoder_fine_n_fft \
            else None
        self.fine = FineLowBand(config.latent_channels, config.audio_channels, config.decoder_fine_bins,
                                config.decoder_frequency_dim, config.decoder_frequency_blocks, config.kernel_size) \
            if config.decoder_fine_n_fft else None
        self.istft = OverlapAddISTFT(config.decoder_n_fft, config.decoder_hop)

    @property
    def receptive_field_frames(self) -> int:
        """Latent frames of left context that influence a frame's magnitude."""
        c = self.config
        per_latent = c.decoder_latent_blocks * (c.kernel_size - 1)
        per_frame = c.decoder_frame_blocks * (c.kernel_size - 1)
        magnitude = per_latent + math.ceil(per_frame / c.frames_per_latent) + self._upsample_context_frames
        branch = self.frequency if self.frequency is not None else self.fine
        return max(magnitude, branch.receptive_field_frames if branch is not None else 0)

    @property
    def _upsample_context_frames(self) -> int:
        return 1 if self.config.decoder_upsample == "interpolate" else 0

    @property
    def frame_context_frames(self) -> int:
        """Latent frames of left context the upsampler and the frame-rate layers after it need."""
        c = self.config
        per_frame = math.ceil(c.decoder_frame_blocks * (c.kernel_size - 1) / c.frames_per_latent)
        return per_frame + self._upsample_context_frames

    def _upsample(self, h: torch.Tensor, from_frame: int) -> torch.Tensor:
        """Latent-rate features (batch, latent_dim, T) -> frame-rate features (batch, frame_dim,
        (T - from_frame) * frames_per_latent) for latent frames [from_frame, T). Causal."""
        c = self.config
        if c.decoder_upsample == "subpixel":
            h = h[..., from_frame:]
            batch, _, latent_frames = h.shape
            h = self.upsample(h.transpose(1, 2))  # (batch, T, k * dim)
            return h.reshape(batch, latent_frames * c.frames_per_latent, c.decoder_frame_dim).transpose(1, 2)
        # the frame before from_frame feeds the interpolation; before the stream's first frame, its own copy
        previous = h[..., from_frame - 1:from_frame] if from_frame > 0 else h[..., :1]
        g = self.upsample(torch.cat([previous, h[..., from_frame:]], dim=-1).transpose(1, 2)).transpose(1, 2)
        return causal_interpolation(g[..., 1:], self.interpolation, g[..., :1])

    def log_magnitude(self, latent: torch.Tensor, from_frame: int = 0) -> torch.Tensor:
        """latent (batch, C, T) -> natural-log STFT magnitude (batch, audio_channels, bins, (T - from_frame) *
        frames_per_latent): the STFT frames of latent frames [from_frame, T). The frame-rate layers start at
        from_frame, so the first `frame_context_frames` latent frames of the result lack their left context
        (a caller that needs exact values there starts that much earlier)."""
        c = self.config
        h = self.input(latent)
        for block in self.latent_blocks:
            h = block(h)
        h = self._upsample(h, from_frame)
        batch = h.shape[0]
        for block in self.frame_blocks:
            h = block(h)
        out = self.head(self.norm(h.transpose(1, 2))).clamp(max=MAX_LOG_MAGNITUDE)  # (batch, frames, ch * bins)
        # a view: the memory stays frame-major, which is what the phase integration and the iSTFT read
        return out.reshape(batch, -1, c.audio_channels, self.bins).permute(0, 2, 3, 1)

    def frequency_corrections(self, latent: torch.Tensor, from_frame: int = 0,
                              log_magnitude: torch.Tensor | None = None) -> torch.Tensor | None:
        """latent (batch, C, T) -> the low bins' frequency corrections (batch, audio_channels or 1 with a shared
        phase, (T - from_frame) * frames_per_latent, K) in bins for latent frames [from_frame, T) (exact: the
        branch sees the whole latent), or None for a decoder without a branch. A fine-band decoder reads them
        against its own magnitude: `log_magnitude` (batch, audio_channels, bins, n) of the same frames, required
        then."""
        if self.frequency is not None:
            return self.frequency(latent, from_frame)
        if self.fine is None:
            return None
        if log_magnitude is None:
            raise ValueError("a fine-band decoder's corrections need the decoder's log-magnitude of the same frames")
        c = self.config
        # the fine frame before from_frame too (the interpolation's left end; a stream's first frame is its own)
        fine = self.fine(latent, max(from_frame - 1, 0)).detach().float().cpu()
        if from_frame == 0:
            fine = torch.cat([fine[:, :, :1], fine], dim=2)
        if self.shares_phase(log_magnitude.shape[1]):  # read against the magnitude the shared phase comes from
            fine = channel_mean_log(fine, 1)
            log_magnitude = channel_mean_log(log_magnitude, 1)
        batch, channels, latent_frames, fine_bins = fine.shape
        frame_major = log_magnitude.detach().float().cpu().permute(0, 1, 3, 2).reshape(batch * channels, -1,
                                                                                       self.bins)
        corrections = low_bin_corrections(fine.reshape(batch * channels, latent_frames, fine_bins).numpy(),
                                          frame_major.numpy(), c.decoder_n_fft, c.decoder_fine_n_fft,
                                          c.decoder_frequency_bins)
        return torch.from_numpy(corrections).float().reshape(batch, channels, -1, c.decoder_frequency_bins)

    def shares_phase(self, channels: int) -> bool:
        """Whether `channels` channels take one phase (the phase state then holds one signal per item)."""
        return self.config.decoder_stereo_phase == "shared" and channels > 1

    def spectral_frames(self, log_magnitude: torch.Tensor, state: PhaseState | None = None,
                        latent_boundaries: bool = False, corrections: torch.Tensor | None = None,
                        ) -> tuple[torch.Tensor, PhaseState, list[PhaseState]]:
        """log_magnitude (batch, channels, bins, n) and the low bins' frequency corrections (batch, channels or 1,
        n, K) or None -> complex frames (batch * channels, bins, n), the phase state to continue from (`state`
        None: the start of a stream; one signal per item with a shared phase, else per channel) and, with
        `latent_boundaries`, the state after each latent frame's last STFT frame."""
        batch, channels, bins, frames = log_magnitude.shape
        # frame-major (batch, channels, frames, bins): for one item a view of `log_magnitude`'s own memory
        # (frame-major, channels interleaved per frame; the phase kernel reads rows of bins), no copies
        frame_major = log_magnitude.permute(0, 1, 3, 2)
        shared = self.shares_phase(channels)
        if shared:  # the magnitudes once: the channels' mean for the phase, then the spectra themselves
            magnitude, source = channel_magnitudes(frame_major, 1)
            source = source[:, 0]
        else:
            magnitude, source = torch.exp(frame_major), frame_major.reshape(batch * channels, frames, bins)
        every = self.config.frames_per_latent if latent_boundaries else 0
        low = None
        if corrections is not None:
            if shared and corrections.shape[1] != 1:  # a per-channel branch (LowBinFrequency): their mean
                corrections = corrections.mean(dim=1, keepdim=True)
            low = corrections.detach().float().cpu().reshape(source.shape[0], frames, -1).numpy()
        phase, state, boundaries = rtpghi_phase(np.ascontiguousarray(source.detach().float().cpu().numpy()),
                                                self.config.decoder_n_fft, self.config.decoder_hop, state,
                                                boundary_every=every, frame_major=True, frequency_corrections_bins=low)
        phase_t = torch.from_numpy(phase).to(device=frame_major.device, dtype=frame_major.dtype)
        # (batch, channels or 1, frames, bins): a shared phase broadcasts over the channels
        phase_t = phase_t.reshape(batch, 1 if shared else channels, frames, bins)
        # frame-major (bins contiguous) all the way to the inverse FFT; returned as a (.., bins, n) view
        spectra = polar(magnitude, phase_t).reshape(batch * channels, frames, bins)
        return spectra.transpose(1, 2), state, boundaries

    def decode_continuing(self, latent: torch.Tensor, state: PhaseState | None,
                          skip_frames: int = 0) -> tuple[torch.Tensor, list[PhaseState]]:
        """Decode latent frames [skip_frames, T) of `latent` (batch, C, T) as the continuation of a stream whose
        decoder stood at `state` before frame skip_frames (a state returned for that frame by an earlier call;
        None: integrate the phase from frame 0, the stream's start). The first skip_frames frames are history:
        they feed the causal network's receptive field and, with `state`, the overlap-add (their phases are
        the stored ones), and are not returned. -> (audio (batch, audio_channels, (T - skip_frames) * hop_frames),
        the phase state after each returned latent frame). Continuing from stored states gives the audio an
        uninterrupted decode of the same latent gives (tested), so a chunk's partials stay in phase with the
        audio it is crossfaded with."""
        c = self.config
        batch = latent.shape[0]
        if state is None or state.tail_phase is None:
            log_magnitude = self.log_magnitude(latent)
            frames, _, boundaries = self.spectral_frames(log_magnitude,
                                                         state if skip_frames == 0 else None, latent_boundaries=True,
                                                         corrections=self.frequency_corrections(latent, 0,
                                                                                                log_magnitude))
            audio = self.istft(frames).reshape(batch, c.audio_channels, -1)
            return audio[..., skip_frames * c.hop_frames:], boundaries[skip_frames:]
        # Only what the kept audio needs: the frame-rate layers from their context before the last history
        # frame, and the overlap-add from the last history frame (its frames carry the stored phases).
        first = max(0, skip_frames - 1 - self.frame_context_frames)
        log_magnitude = self.log_magnitude(latent, first)
        start = (skip_frames - first) * c.frames_per_latent
        tail = min(start, c.frames_per_latent, state.tail_phase.shape[-1])
        corrections = self.frequency_corrections(latent, skip_frames, log_magnitude[..., start:])
        new, _, boundaries = self.spectral_frames(log_magnitude[..., start:], state, latent_boundaries=True,
                                                  corrections=corrections)
        history = log_magnitude[..., start - tail:start].reshape(new.shape[0], self.bins, tail)
        history_phase = torch.from_numpy(state.tail_phase[..., state.tail_phase.shape[-1] - tail:]).to(history)
        if self.shares_phase(c.audio_channels):  # one stored phase per item, for each of its channels
            history_phase = history_phase.repeat_interleave(c.audio_channels, dim=0)
        frames = torch.cat([polar_from_log(history, history_phase), new], dim=-1)
        audio = self.istft(frames).reshape(batch, c.audio_channels, -1)
        return audio[..., tail * c.decoder_hop:], boundaries

    def synthesise(self, log_magnitude: torch.Tensor, corrections: torch.Tensor | None = None) -> torch.Tensor:
        """log_magnitude (batch, channels, bins, n) (and the low bins' frequency corrections (batch, channels, n, K))
        -> audio (batch, channels, n * hop) from the start of a stream: the phase integrated from it, then the
        inverse STFT. Differentiable in the magnitude (the phase is a constant: the kernel is not
        differentiable), which is how the trainer's output loss reaches it."""
        frames, _, _ = self.spectral_frames(log_magnitude, corrections=corrections)
        return self.istft(frames).reshape(log_magnitude.shape[0], log_magnitude.shape[1], -1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        log_magnitude = self.log_magnitude(latent)
        return self.synthesise(log_magnitude, self.frequency_corrections(latent, 0, log_magnitude))


class MagnitudeAutoencoder(nn.Module):
    """Encoder + decoder + latent statistics (per-channel mean/std for normalising the diffusion stage)."""

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.encoder = MagnitudeEncoder(config)
        self.decoder = WaveformDecoder(config)
        self.register_buffer("latent_mean", torch.zeros(config.latent_channels))
        self.register_buffer("latent_std", torch.ones(config.latent_channels))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, 2, samples) -> (batch, latent_channels, samples // hop_frames); raw, not normalised."""
        return self.encoder(audio)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(batch, latent_channels, frames) -> (batch, 2, frames * hop_frames)."""
        return self.decoder(latent)

    def normalise(self, latent: torch.Tensor) -> torch.Tensor:
        return (latent - self.latent_mean[:, None]) / self.latent_std[:, None]

    def denormalise(self, latent: torch.Tensor) -> torch.Tensor:
        return latent * self.latent_std[:, None] + self.latent_mean[:, None]

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.encode(audio)
        return self.decode(latent), latent
