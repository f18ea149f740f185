"""Time-varying controls as U-Net input channels: one definition shared by training and generation.

The control tensor (batch, control_channels, frames) stacks, in this order:
  descriptor values (4, normalised, 0 where absent), descriptor presence mask (4, 1 = given),
  beat clock (2: sin and cos of 2 pi * beat phase; both 0 = no clock),
  context latent (latent_channels, clean normalised latent, 0 where absent), context mask (1),
  and only for a model whose UNetConfig has harmony_channels: chroma profile (12, 0 where absent), its mask (1).

Descriptor normalisation maps each descriptor to roughly [-2, 2] on the dataset:
  loudness_db -> (dB + 20) / 10,  centroid_hz -> log2(Hz / 2000),  flatness -> (log10(flatness) + 2) / 1.5,
  onset_density (onsets/s) -> (density - 3) / 3.

Chroma normalisation (`chroma_profile`, the one function training and generation share): each frame's
pitch-class energies are divided by that frame's loudest pitch class, so the loudest is 1 and the others are
their share of it (0..1). Divided by the maximum, not the sum: the profile does not depend on loudness, and a
chord's tones keep the same weight whether three or five pitch classes sound (the sum would halve a triad's
tones when a melody adds two more). A frame whose loudest pitch class is below CHROMA_SILENCE is silent: profile
0, mask 0 (in training, frames where the score sounds no pitched note; at play time, "N.C." bars). Training
smooths the score's raw energies with the batch's descriptor smoothing window first (TRAINING_SMOOTHING_FRAMES),
so a chord held for a bar is as familiar as the note-by-note chroma.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from torch.nn import functional as F

from engine.vocabulary import DESCRIPTOR_MODEL_NAMES

DESCRIPTOR_COUNT = len(DESCRIPTOR_MODEL_NAMES)
CHROMA_CHANNELS = 12  # pitch classes, C first
CONTROL_PARTS = ("descriptors", "harmony", "clock")  # what without_controls can leave out
HARMONY_CONTROL_CHANNELS = CHROMA_CHANNELS + 1  # the chroma profile and its mask
# A frame whose loudest pitch class has less energy than this is silent (the score's (velocity/127)^2 units;
# a chord template's 1).
CHROMA_SILENCE = 1e-4
# Where a descriptor is not given its raw value is this (anything finite: the mask hides it); the normalisation's centres.
_ABSENT_DESCRIPTOR_VALUES: tuple[float, ...] = (-20.0, 2000.0, 0.01, 3.0)


def normalise_descriptors(curves: torch.Tensor) -> torch.Tensor:
    """(..., 4) raw descriptor values in DESCRIPTOR_MODEL_NAMES order -> normalised, same shape."""
    loudness = (curves[..., 0] + 20.0) / 10.0
    centroid = torch.log2(curves[..., 1].clamp_min(20.0) / 2000.0)
    flatness = (torch.log10(curves[..., 2].clamp_min(1e-6)) + 2.0) / 1.5
    density = (curves[..., 3] - 3.0) / 3.0
    return torch.stack([loudness, centroid, flatness, density], dim=-1)


def denormalise_descriptors(values: torch.Tensor) -> torch.Tensor:
    """Inverse of normalise_descriptors (for display and for turning knob values into curves)."""
    loudness = values[..., 0] * 10.0 - 20.0
    centroid = 2000.0 * torch.pow(2.0, values[..., 1])
    flatness = torch.pow(10.0, values[..., 2] * 1.5 - 2.0)
    density = values[..., 3] * 3.0 + 3.0
    return torch.stack([loudness, centroid, flatness, density], dim=-1)


def descriptor_targets(targets: Iterable[tuple[str, float | np.ndarray]], start_frame: int, frames: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """A request's descriptor targets -> (normalised curves (1, 4, frames), presence mask (1, 4, frames)).

    targets: (model name, value) pairs in natural units, applied in order: a scalar holds for the whole window,
    an array has one value per latent frame of the whole render and its [start_frame, start_frame + frames)
    slice is used (a curve shorter than the render stops steering where it ends). ValueError for NaN/inf.
    """
    raw = torch.zeros(frames, DESCRIPTOR_COUNT)
    mask = torch.zeros(1, DESCRIPTOR_COUNT, frames)
    raw[:] = torch.tensor(_ABSENT_DESCRIPTOR_VALUES)
    for name, value in targets:
        index = DESCRIPTOR_MODEL_NAMES.index(name)
        if np.isscalar(value):
            raw[:, index] = float(value)  # type: ignore[arg-type]
            mask[0, index] = 1.0
        else:
            segment = np.asarray(value, dtype=np.float32)[start_frame:start_frame + frames]
            if segment.size == 0:
                continue
            raw[:segment.size, index] = torch.from_numpy(segment)
            mask[0, index, :segment.size] = 1.0
    if not torch.isfinite(raw).all():
        raise ValueError("descriptor curves must be finite")
    return normalise_descriptors(raw).T[None], mask


def chroma_profile(energy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, 12, frames) pitch-class energies >= 0 in any unit -> (profile (batch, 12, frames): each frame
    divided by its loudest pitch class, 0..1; sounding mask (batch, frames): 1 where the loudest pitch class is
    at least CHROMA_SILENCE). Silent frames get profile 0 and mask 0. The module docstring says why the max."""
    loudest = energy.amax(dim=1, keepdim=True)  # (batch, 1, frames)
    sounding = loudest >= CHROMA_SILENCE
    profile = torch.where(sounding, energy / loudest.clamp_min(CHROMA_SILENCE), torch.zeros_like(energy))
    return profile, sounding[:, 0].to(energy.dtype)


def harmony_targets(chroma: np.ndarray, mask: np.ndarray | None, start_frame: int, frames: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """A request's chroma curve -> (profile (1, 12, frames), mask (1, frames)) for the window starting at
    `start_frame` of the render.

    chroma: (render_frames, 12) pitch-class weights >= 0, one row per latent frame of the whole render (a curve
    shorter than the render stops steering where it ends); mask: (render_frames,) 1 = given, 0 = free, None =
    given wherever the curve sounds. ValueError for a wrong shape or a negative or non-finite value.
    """
    chroma = np.asarray(chroma, dtype=np.float32)
    if chroma.ndim != 2 or chroma.shape[1] != CHROMA_CHANNELS:
        raise ValueError(f"a chroma curve is (frames, {CHROMA_CHANNELS}), got shape {chroma.shape}")
    if not np.isfinite(chroma).all() or (chroma < 0).any():
        raise ValueError("chroma curves must be finite and >= 0")
    given = np.ones(chroma.shape[0], np.float32) if mask is None else np.asarray(mask, dtype=np.float32)
    if given.shape != (chroma.shape[0],):
        raise ValueError(f"the chroma mask has shape {given.shape}, the curve {chroma.shape[0]} frames")
    energy = torch.zeros(1, CHROMA_CHANNELS, frames)
    window_mask = torch.zeros(1, frames)
    segment = chroma[start_frame:start_frame + frames]
    if segment.shape[0]:
        energy[0, :, :segment.shape[0]] = torch.from_numpy(segment).T
        window_mask[0, :segment.shape[0]] = torch.from_numpy(given[start_frame:start_frame + frames])
    profile, sounding = chroma_profile(energy)
    return profile, sounding * window_mask


# Training draws one of these smoothing windows (latent frames) per batch: beat-level curves to ~1 s knob moves.
TRAINING_SMOOTHING_FRAMES: tuple[int, ...] = (1, 5, 17, 43)


def smooth_curves(curves: torch.Tensor, window_frames: int) -> torch.Tensor:
    """Centred moving average over frames of (batch, channels, frames), edge-replicated; 1 = unchanged.

    Training sees descriptor curves at several smoothings, so a performer's slowly moving knob (a
    near-constant curve) is inside the training distribution, not only the beat-by-beat raw curve.
    """
    if window_frames <= 1:
        return curves
    left = (window_frames - 1) // 2
    padded = F.pad(curves, (left, window_frames - 1 - left), mode="replicate")
    kernel = torch.full((curves.shape[1], 1, window_frames), 1.0 / window_frames, dtype=curves.dtype,
                        device=curves.device)
    return F.conv1d(padded, kernel, groups=curves.shape[1])


def training_harmony(energy: torch.Tensor, window_frames: int, given: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's score chroma (batch, frames, 12) raw energies, the batch's smoothing window and which rows are
    given (batch,) -> (profile (batch, 12, frames), mask (batch, frames)): smoothed, then chroma_profile; the
    mask is 0 on silent frames and on rows not given. What CacheBatches and DeviceBatches both feed build_controls.
    """
    profile, sounding = chroma_profile(smooth_curves(energy.float().transpose(1, 2), window_frames))
    return profile, sounding * given.float()[:, None]


def beat_clock(start_seconds: torch.Tensor, tempo_bpm: torch.Tensor, frames: int, frame_seconds: float,
               beat_offset: torch.Tensor | None = None) -> torch.Tensor:
    """(batch,) start times and tempi -> (batch, 2, frames) sin/cos of the beat phase at each frame.

    The phase is (t * tempo / 60 + beat_offset) mod 1, t the frame's time from the start of the piece
    (bar lines fall on whole beats, so clips cut at bar lines start at phase 0). Rows with tempo <= 0
    get zeros (no clock).
    """
    t = start_seconds[:, None].double() + torch.arange(frames, dtype=torch.float64, device=start_seconds.device)[None] * frame_seconds
    beats = t * tempo_bpm[:, None].double() / 60.0
    if beat_offset is not None:
        beats = beats + beat_offset[:, None].double()
    angle = 2 * math.pi * torch.remainder(beats, 1.0)
    clock = torch.stack([torch.sin(angle), torch.cos(angle)], dim=1).float()
    return clock * (tempo_bpm > 0).float()[:, None, None]


def build_controls(batch: int, frames: int, latent_channels: int, *, descriptors: torch.Tensor | None = None,
                   descriptor_mask: torch.Tensor | None = None, clock: torch.Tensor | None = None,
                   context: torch.Tensor | None = None, context_frames: torch.Tensor | int | None = None,
                   harmony: bool = False, chroma: torch.Tensor | None = None, chroma_mask: torch.Tensor | None = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Assemble the control tensor (batch, 2*4 + 2 + latent_channels + 1 [+ 13 with harmony], frames).

    descriptors: (batch, 4, frames) normalised values; descriptor_mask: (batch, 4) or (batch, 4, frames),
    1 where given (default: all given when descriptors is passed). clock: (batch, 2, frames).
    context: (batch, latent_channels, >= max context frames) clean latent; context_frames: how many
    leading frames of each row are context (int or (batch,) tensor).
    harmony: add the harmony channels (a model whose config has harmony_channels); chroma: (batch, 12, frames)
    profile (chroma_profile's), chroma_mask: (batch, frames), 1 where given (default: everywhere). ValueError
    for a chroma without harmony channels.
    """
    if chroma is not None and not harmony:
        raise ValueError("a chroma target needs the harmony channels (harmony=True)")
    base_channels = 2 * DESCRIPTOR_COUNT + 2 + latent_channels + 1
    out = torch.zeros(batch, base_channels + (HARMONY_CONTROL_CHANNELS if harmony else 0), frames, device=device)
    if descriptors is not None:
        if descriptor_mask is None:
            mask = torch.ones(batch, DESCRIPTOR_COUNT, frames, device=device)
        elif descriptor_mask.ndim == 2:
            mask = descriptor_mask[:, :, None].float().expand(-1, -1, frames)
        else:
            mask = descriptor_mask.float()
        out[:, :DESCRIPTOR_COUNT] = descriptors * mask
        out[:, DESCRIPTOR_COUNT:2 * DESCRIPTOR_COUNT] = mask
    if clock is not None:
        out[:, 2 * DESCRIPTOR_COUNT:2 * DESCRIPTOR_COUNT + 2] = clock
    if context is not None and context_frames is not None:
        counts = (torch.full((batch,), int(context_frames), device=device) if isinstance(context_frames, int)
                  else context_frames.to(device))
        longest = int(counts.max()) if counts.numel() else 0
        if longest > frames:
            raise ValueError(f"context of {longest} frames does not fit a window of {frames}")
        if longest > 0:
            mask = (torch.arange(frames, device=device)[None] < counts[:, None]).float()  # (batch, frames)
            start = 2 * DESCRIPTOR_COUNT + 2
            out[:, start:start + latent_channels, :longest] = context[:, :, :longest] * mask[:, None, :longest]
            out[:, start + latent_channels] = mask
    if chroma is not None:
        given = torch.ones(batch, frames, device=device) if chroma_mask is None else chroma_mask.float().to(device)
        out[:, base_channels:base_channels + CHROMA_CHANNELS] = chroma.to(device) * given[:, None]
        out[:, base_channels + CHROMA_CHANNELS] = given
    return out


def without_controls(controls: torch.Tensor, names: Iterable[str], latent_channels: int) -> torch.Tensor:
    """A copy of build_controls' tensor (batch, channels, frames) with the named controls (CONTROL_PARTS:
    "descriptors" curves and mask, "harmony" chroma and mask, "clock") not given: the branch a guidance term
    that amplifies them is measured from. The continuation context always stays: both branches continue the
    same audio. The model saw every combination in training (each control drops on its own)."""
    out = controls.clone()
    base_channels = 2 * DESCRIPTOR_COUNT + 2 + latent_channels + 1
    for name in names:
        if name == "descriptors":
            out[:, :2 * DESCRIPTOR_COUNT] = 0.0
        elif name == "clock":
            out[:, 2 * DESCRIPTOR_COUNT:2 * DESCRIPTOR_COUNT + 2] = 0.0
        elif name == "harmony":
            out[:, base_channels:] = 0.0  # nothing there in a model without harmony channels
        else:
            raise ValueError(f"unknown control {name!r}; known: {', '.join(CONTROL_PARTS)}")
    return out


def descriptors_given(controls: torch.Tensor) -> bool:
    """Whether any descriptor curve is given anywhere in build_controls' tensor (its presence mask)."""
    return bool(controls[:, DESCRIPTOR_COUNT:2 * DESCRIPTOR_COUNT].any())
