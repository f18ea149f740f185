"""Decoding a latent stream chunk by chunk, equal to decoding it whole (the decoder is causal in latent frames)."""

from __future__ import annotations

import torch

from engine.codec.model import WaveformDecoder
from engine.codec.phase import PhaseState

__all__ = ["StreamingDecoder"]


class StreamingDecoder:
    """Decode latent chunks one after another; the concatenated output equals `decoder(latent)` offline.

    Each `push` returns the audio that is final so far: everything except the last n_fft/2 samples, whose
    overlap-add still waits for the next chunk's first frames (23.2 ms at n_fft 2048). `flush` returns them.
    The phase integration's state (the last frame's magnitude and phase) carries over from push to push.
    """

    def __init__(self, decoder: WaveformDecoder) -> None:
        self.decoder = decoder
        self.config = decoder.config
        self.context: torch.Tensor | None = None  # (batch, C, <= receptive field) latent frames
        self.signal_tail: torch.Tensor | None = None  # overlap-add state over padded positions
        self.envelope_tail: torch.Tensor | None = None
        self.frames_done = 0
        self.phase_state: PhaseState | None = None

    @torch.no_grad()
    def push(self, latent: torch.Tensor) -> torch.Tensor:
        """latent (batch, C, t) -> audio (batch, audio_channels, samples now final)."""
        c = self.config
        istft = self.decoder.istft
        batch, _, new_frames = latent.shape
        context_frames = 0 if self.context is None else self.context.shape[-1]
        window = latent if self.context is None else torch.cat([self.context, latent], dim=-1)
        # The frame-rate layers need only their own context of the kept latent frames (the rest of the window
        # feeds the latent-rate layers): start them there, as the live engine's decode does.
        first = max(0, context_frames - self.decoder.frame_context_frames)
        log_magnitude = self.decoder.log_magnitude(window, first)[..., (context_frames - first) * c.frames_per_latent:]
        corrections = self.decoder.frequency_corrections(window, context_frames, log_magnitude)
        frames, self.phase_state, _ = self.decoder.spectral_frames(log_magnitude, self.phase_state,
                                                                   corrections=corrections)
        segments = istft.frames_to_segments(frames)
        signal, envelope = istft.overlap_add(segments)
        overlap = istft.n_fft - istft.hop
        envelope = envelope.clone()  # the cached envelope is shared: add the tail to a copy
        if self.signal_tail is not None:
            signal[:, :overlap] += self.signal_tail
            envelope[:, :overlap] += self.envelope_tail
        n_frames = frames.shape[-1]
        # Positions below n_frames * hop get no more contributions; keep the rest for the next chunk.
        final = n_frames * istft.hop
        self.signal_tail = signal[:, final:].clone()
        self.envelope_tail = envelope[:, final:].clone()
        out = signal[:, :final] / envelope[:, :final].clamp_min(1e-8)
        if self.frames_done == 0:
            out = out[:, istft.n_fft // 2:]  # the centred STFT's left padding
        self.frames_done += n_frames
        keep = self.decoder.receptive_field_frames
        self.context = window[..., -keep:] if keep > 0 else window[..., :0]
        return out.reshape(batch, c.audio_channels, -1)

    def flush(self) -> torch.Tensor:
        """The last n_fft/2 samples (the end of the signal, as offline decoding trims it)."""
        if self.signal_tail is None:
            return torch.zeros(0)
        half = self.decoder.istft.n_fft // 2
        out = self.signal_tail[:, :half] / self.envelope_tail[:, :half].clamp_min(1e-8)
        return out.reshape(-1, self.config.audio_channels, half)
