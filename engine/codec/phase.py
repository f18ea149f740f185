"""Phase from STFT magnitude by real-time phase-gradient heap integration (RTPGHI).

The decoder predicts magnitude only; this module gives it a phase. For a Gaussian window the phase gradient
of the STFT follows from the gradient of its log-magnitude (Portnoff; Prusa, Balazs & Sondergaard 2017):
in the convention where each frame's phase is taken at the window's centre, with the window
exp(-pi n^2 / lambda) (n in samples) and frequency omega in cycles per sample,

    d phase / d n     = 2 pi omega + (1 / lambda) d log|X| / d omega     (instantaneous frequency)
    d phase / d omega = -lambda d log|X| / d n                           (local group delay)

so a partial's phase advances at the partial's own frequency, read off the shape of its spectral peak, and
never at the frame rate: a frame-locked comb (every partial snapped to a multiple of sample_rate / hop)
cannot come out of this integration. A Hann window of length N is close to a Gaussian with
lambda = 0.25645 N^2.

The integration is causal (Prusa & Holighaus 2017, "Towards real-time phase reconstruction"): frame j's
phase depends on frames j and j - 1 only, the time derivative is a backward difference, and the bins are
visited from the loudest down (a bucket queue, O(bins) a frame, where the paper uses a heap) so each phase
is integrated from its strongest known neighbour.
Because the recursion carries only the previous frame, streaming (PhaseState passed chunk to chunk) gives
exactly the offline result. Bins far below the frame's peak get a pseudo-random phase that depends on the
absolute frame index and bin alone, so it is the same offline and streamed.

Shapes: log_magnitude (bins, frames) float32 or float64, natural log; phase (bins, frames) in torch.stft's
convention (phase relative to the window's first sample, i.e. centre phase - pi * bin).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

HANN_GAUSSIAN_LAMBDA_PER_N2 = 0.25645
# Bins this far under the frame's peak get a random phase. Measured on true magnitudes (8 clips, 3 saw tones):
# 50 dB: log-spectral L1 4.15 dB (the random-phase floor comes out too quiet); 60 dB: 3.03 dB and no line at
# the hop or latent frame rate above the input's; 65-120 dB: 2.6-2.8 dB, but integrating the phase of bins
# that deep between the partials of a clean tone raises lines at the hop rate (172 Hz) by 1-10 dB.
DEFAULT_TOLERANCE_NATS = float(np.log(10.0 ** (60.0 / 20.0)))
# Bins more than 30 dB under the loudest bin within 3 bins (a valley between partials, not a main lobe) get a
# random phase too. Measured (6 clips, tones at 111/233/511 Hz): log-spectral L1 unchanged (2.99 dB from the
# true magnitude); lines at the hop rate 2.3-9 dB lower from true magnitudes and up to 6 dB lower from the
# decoder's (flat valleys would otherwise turn at their bin centres, multiples of 21.5 Hz).
LOCAL_PEAK_BINS = 3
# Peaks from this bin up (64.6 Hz at 2048 points) take their frequency from the vertex of a parabola
# (_instantaneous_frequency). Below it the window's mirror image at negative frequencies bends the peak: from a
# true magnitude the vertex put a 41 Hz tone 35 cents off, the slope rule 4.4.
VERTEX_MIN_BIN = 3
DEFAULT_LOCAL_TOLERANCE_NATS = float(np.log(10.0 ** (30.0 / 20.0)))


@dataclass
class PhaseState:
    """What the integration carries from one chunk to the next, per signal (rows = channels)."""

    previous_log_magnitude: np.ndarray  # (signals, bins) float64
    previous_phase: np.ndarray  # (signals, bins) float64, centre convention
    frames_done: int  # absolute index of the next frame (seeds the random phases)
    # (signals, bins, n) the last n frames' phases in torch.stft's convention (boundary states only): what an
    # overlap-add that resumes here needs of the frames before it; `tail_phase` reads it (a boundary state
    # holds where to find it in its call's phase and copies it out when first read)
    tail: "np.ndarray | _PhaseTail | None" = None
    # (signals, K) the previous frame's corrections to the frequency of bins 0..K-1, in bins (when the decoder
    # predicts them: `frequency_corrections_bins`); None where none were given
    previous_corrections_bins: np.ndarray | None = None

    @property
    def tail_phase(self) -> np.ndarray | None:
        if isinstance(self.tail, _PhaseTail):
            self.tail = self.tail.copy_out()
        return self.tail

    @classmethod
    def empty(cls, signals: int, bins: int) -> "PhaseState":
        return cls(np.full((signals, bins), -np.inf), np.zeros((signals, bins)), 0)


@dataclass(frozen=True)
class _PhaseTail:
    """Frames [end - frames, end) of a call's phase (signals, frames, bins) in torch.stft's convention, which the
    call returns and its boundary states share (nothing writes into it). A call keeps one state per latent frame
    and a resumed decode reads the tail of one: copying every state's tail out at once was a second copy of the
    whole phase (13 ms per 10 s of stereo, a quarter of the phase kernel's time)."""

    phase: np.ndarray
    end: int
    frames: int

    def copy_out(self) -> np.ndarray:
        """(signals, bins, frames), contiguous."""
        return np.ascontiguousarray(self.phase[:, self.end - self.frames:self.end].transpose(0, 2, 1))


BUCKETS_PER_NAT = 16  # the visiting order is by log-magnitude quantised to 1/16 nat (0.54 dB)


@numba.njit(cache=True, inline="always")
def _push(head: np.ndarray, link: np.ndarray, top: int, item: int, key: float, base: float) -> int:
    """Put `item` in the bucket of log-magnitude `key` (bucket 0 = `base`); returns the new top bucket."""
    q = min(max(int((key - base) * BUCKETS_PER_NAT), 0), head.shape[0] - 1)
    link[item] = head[q]
    head[q] = item
    return max(top, q)


@numba.njit(cache=True, inline="always")
def _random_phase(frame: int, bin_index: int) -> float:
    # A small integer hash (deterministic, streaming-safe), mapped to [0, 2 pi).
    h = (frame * 73856093) ^ (bin_index * 19349663) ^ 0x5BD1E995
    h = (h ^ (h >> 13)) * 0x5BD1E995
    h = h ^ (h >> 15)
    return (h & 0xFFFFFF) / float(0x1000000) * 2.0 * np.pi


@numba.njit(cache=True, inline="always")
def _peak(s: np.ndarray) -> float:
    peak = -np.inf
    for k in range(s.shape[0]):
        peak = max(peak, s[k])
    return peak


# error_model="numpy": a flat stretch divides by a zero curvature, whose result the select below throws away
# (the Python error model would check every division and branch on it)
@numba.njit(cache=True, error_model="numpy")
def _instantaneous_frequency(s: np.ndarray, floor: float, if_scale: float, n_fft: int, out: np.ndarray,
                             count: int) -> None:
    """Each bin's instantaneous frequency (radians per sample) from the slope of the log-magnitude across
    frequency (bins under `floor` read as `floor`); at a spectral peak, from the vertex of the parabola
    through the peak and its neighbours.

    Why the vertex at peaks: the slope rule assumes the window's own peak curvature (a Gaussian's), so a
    peak wider than that (a decoder's magnitude is smoother than a true STFT's) reads too close to its bin
    centre: partials drift towards multiples of 21.5 Hz and low notes go flat or sharp. The vertex does not
    depend on the width. Measured with the v2.2 decoder (session 11, docs/autoencoder.md): tone-set median
    error 10.5 -> 9.5 cents, 24 other tones 9.6 -> 6.7, lines at the 43 Hz multiples on music 1.0 dB lower,
    log-spectral L1 unchanged; from true magnitudes the tone set stays within 7 cents."""
    # Bins 0..count-1 only (count = len(s): all; magnitude_frequency_offsets wants the lowest few). One pass with
    # a sliding window of clipped values and a select instead of a branch (noise makes the peak test a coin toss
    # for the branch predictor): the same numbers as a per-bin call, 6x faster (26 -> 4 ms for 10 s of noise,
    # one signal; it was 40 % of the phase kernel). At DC and Nyquist a peak is symmetric: the bin centre.
    bins = s.shape[0]
    if count <= 0:
        return
    out[0] = 0.0
    below = max(s[0], floor)
    here = max(s[1], floor)
    for k in range(1, min(count, bins - 1)):
        above = max(s[k + 1], floor)
        curvature = below - 2.0 * here + above
        vertex_bins = min(0.5, max(-0.5, 0.5 * (below - above) / curvature))
        at_peak = (k >= VERTEX_MIN_BIN) & (here >= below) & (here >= above) & (curvature < -1e-9)
        out[k] = 2.0 * np.pi * k / n_fft + (2.0 * np.pi * vertex_bins / n_fft if at_peak else if_scale * (above - below))
        below = here
        here = above
    if count >= bins:
        out[bins - 1] = 2.0 * np.pi * (bins - 1) / n_fft


@numba.njit(cache=True)
def _settle_quiet_bins(s: np.ndarray, floor: float, local_tolerance: float, frame: int, phi: np.ndarray,
                       done: np.ndarray, pair_max: np.ndarray, quad_max: np.ndarray) -> int:
    """Bins under the frame's floor or far under their local peak get a pseudo-random phase and count as
    done; returns how many bins are left to integrate. pair_max, quad_max: scratch arrays of `bins`."""
    bins = s.shape[0]
    # the loudest bin within LOCAL_PEAK_BINS (3) either side, as maxima of maxima (O(bins), no inner loop; 11 of
    # the kernel's 51 ms on 10 s of noise went to the 7-bin loop): the window is max(quad[k - 3], quad[k]) with
    # quad[i] the max of s[i .. i + 3], both clipped at the ends
    for k in range(bins):
        pair_max[k] = max(s[k], s[k + 1]) if k + 1 < bins else s[k]
    for k in range(bins):
        quad_max[k] = max(pair_max[k], pair_max[k + 2]) if k + 2 < bins else pair_max[k]
    remaining = 0
    for k in range(bins):
        local_peak = max(quad_max[max(0, k - LOCAL_PEAK_BINS)], quad_max[k])
        done[k] = s[k] <= floor or s[k] < local_peak - local_tolerance
        if done[k]:
            phi[k] = _random_phase(frame, k)
        else:
            remaining += 1
    return remaining


@numba.njit(cache=True)
def _integrate_frame(s: np.ndarray, s_prev: np.ndarray, prev_floor: float, has_prev: bool, base: float,
                     phi: np.ndarray, phi_prev: np.ndarray, inst_freq: np.ndarray, prev_inst_freq: np.ndarray,
                     group_delay: np.ndarray, done: np.ndarray, remaining: int, hop: int, head: np.ndarray,
                     link: np.ndarray) -> None:
    """One frame's phase `phi` by heap integration: from the loudest known bin outwards, along time from the
    previous frame (instantaneous frequency) and along frequency within this frame (group delay)."""
    bins = s.shape[0]
    # A bucket queue instead of a binary heap: O(1) push and pop, loudest bucket first (order within a
    # bucket does not matter at this resolution). Items < bins: previous frame; >= bins: this frame.
    head[:] = -1
    top = -1
    if has_prev:
        for k in range(bins):
            # a bin already settled (random phase) would be popped and skipped: not queued at all
            if s_prev[k] > prev_floor and not done[k]:
                top = _push(head, link, top, k, s_prev[k], base)
    while remaining > 0:
        while top >= 0 and head[top] < 0:
            top -= 1
        if top < 0:
            # No known neighbour (an onset, or the first frame): start from the loudest bin left,
            # advanced in time from the previous frame's phase (0 at the very start).
            best = -1
            for k in range(bins):
                if not done[k] and (best < 0 or s[k] > s[best]):
                    best = k
            phi[best] = phi_prev[best] + 0.5 * hop * (prev_inst_freq[best] + inst_freq[best])
            done[best] = True
            remaining -= 1
            top = _push(head, link, top, best + bins, s[best], base)
            continue
        item = head[top]
        head[top] = link[item]
        if item < bins:  # previous frame: integrate along time
            k = item
            if not done[k]:
                phi[k] = phi_prev[k] + 0.5 * hop * (prev_inst_freq[k] + inst_freq[k])
                done[k] = True
                remaining -= 1
                top = _push(head, link, top, k + bins, s[k], base)
        else:  # this frame: integrate along frequency to both neighbours
            k = item - bins
            for step in (1, -1):
                n = k + step
                if 0 <= n < bins and not done[n]:
                    phi[n] = phi[k] + step * 0.5 * (group_delay[k] + group_delay[n])
                    done[n] = True
                    remaining -= 1
                    top = _push(head, link, top, n + bins, s[n], base)


@numba.njit(cache=True, inline="always")
def _correct_low_bins(corrections_bins: np.ndarray, n_fft: int, out: np.ndarray) -> None:
    """Bins 1..K-1 advance at the frequency read off the magnitude plus a given correction (in bins); DC keeps
    its own (a real signal's DC bin does not rotate)."""
    for k in range(1, corrections_bins.shape[0]):
        out[k] += 2.0 * np.pi * corrections_bins[k] / n_fft


def magnitude_frequency_offsets(log_magnitude: np.ndarray, n_fft: int, bins_wanted: int,
                                tolerance_nats: float = DEFAULT_TOLERANCE_NATS) -> np.ndarray:
    """The frequency the integration reads off a magnitude for bins 0..bins_wanted-1, as offsets from the bin
    centres in bins: (signals, frames, bins) frame-major natural-log magnitude -> (signals, frames, bins_wanted).
    What a correction (`frequency_corrections_bins`) is added to: the true frequency minus this is the
    correction that gives the true frequency (the trainer's target, the oracle's input)."""
    lam = HANN_GAUSSIAN_LAMBDA_PER_N2 * n_fft * n_fft
    out = np.empty((log_magnitude.shape[0], log_magnitude.shape[1], bins_wanted))
    if log_magnitude.dtype not in (np.float32, np.float64):
        log_magnitude = log_magnitude.astype(np.float64)
    for i, signal in enumerate(log_magnitude):
        # read in place, float32 or not (a float64 copy of every bin cost more than reading the 16 wanted ones)
        _low_read_offsets(signal, bins_wanted, n_fft, lam, tolerance_nats, out[i])
    return out


@numba.njit(cache=True)
def _low_read_offsets(log_magnitude: np.ndarray, bins_wanted: int, n_fft: int, lam: float, tolerance: float,
                      out: np.ndarray) -> None:
    """(frames, bins) -> out (frames, bins_wanted): the frequency `_integrate` reads off each frame for bins
    0..bins_wanted-1, as offsets from the bin centres in bins (the other bins are read for the peak only)."""
    frequency = np.empty(bins_wanted)
    for j in range(log_magnitude.shape[0]):
        s = log_magnitude[j]
        _instantaneous_frequency(s, _peak(s) - tolerance, n_fft / (2.0 * lam), n_fft, frequency, bins_wanted)
        for k in range(bins_wanted):
            out[j, k] = frequency[k] * n_fft / (2.0 * np.pi) - k


@numba.njit(cache=True, nogil=True)
def _integrate(log_magnitude: np.ndarray, previous_log_magnitude: np.ndarray, previous_phase: np.ndarray,
               frames_done: int, n_fft: int, hop: int, lam: float, tolerance: float,
               local_tolerance: float, corrections_bins: np.ndarray,
               previous_corrections_bins: np.ndarray) -> np.ndarray:
    """(frames, bins) log-magnitude, frame-major (each frame's bins contiguous) -> centre-convention phase.
    corrections_bins (frames, K): the low bins' frequency corrections (K may be 0); previous_corrections_bins
    (K,): the frame before's (zeros: none)."""
    frames, bins = log_magnitude.shape
    phase = np.empty((frames, bins))
    head = np.empty(int(tolerance * BUCKETS_PER_NAT) + 2, np.int64)
    link = np.empty(2 * bins, np.int64)
    done = np.zeros(bins, np.bool_)
    inst_freq, prev_inst_freq, group_delay = np.empty(bins), np.empty(bins), np.empty(bins)
    pair_max, quad_max = np.empty(bins), np.empty(bins)  # scratch of _settle_quiet_bins
    s_prev = previous_log_magnitude.copy()
    phi_prev = previous_phase.copy()
    if_scale = n_fft / (2.0 * lam)  # d/d omega by a central difference: (s[k+1] - s[k-1]) * n_fft / 2
    gd_scale = -lam / n_fft / hop  # per-bin phase step from d log|X| / dn (backward difference over a hop)
    prev_peak = _peak(s_prev)
    # the previous frame's instantaneous frequency is this frame's, carried over (computed once at the start)
    _instantaneous_frequency(s_prev, prev_peak - tolerance, if_scale, n_fft, prev_inst_freq, bins)
    _correct_low_bins(previous_corrections_bins, n_fft, prev_inst_freq)
    for j in range(frames):
        s = log_magnitude[j]
        phi = phase[j]
        peak = _peak(s)
        floor = peak - tolerance
        prev_floor = prev_peak - tolerance
        has_prev = np.isfinite(prev_peak)
        _instantaneous_frequency(s, floor, if_scale, n_fft, inst_freq, bins)
        _correct_low_bins(corrections_bins[j], n_fft, inst_freq)
        for k in range(bins):
            if has_prev:
                group_delay[k] = gd_scale * (max(s[k], floor) - max(s_prev[k], prev_floor))
            else:
                prev_inst_freq[k] = inst_freq[k]
                group_delay[k] = 0.0
        remaining = _settle_quiet_bins(s, floor, local_tolerance, frames_done + j, phi, done, pair_max, quad_max)
        _integrate_frame(s, s_prev, prev_floor, has_prev, max(peak, prev_peak) - tolerance, phi, phi_prev,
                         inst_freq, prev_inst_freq, group_delay, done, remaining, hop, head, link)
        for k in range(bins):
            phi[k] -= 2.0 * np.pi * np.floor(phi[k] / (2.0 * np.pi))  # wrap to [0, 2 pi) (cheaper than fmod)
            s_prev[k] = s[k]
            phi_prev[k] = phi[k]
        prev_peak = peak
        inst_freq, prev_inst_freq = prev_inst_freq, inst_freq
    return phase


_pool: ThreadPoolExecutor | None = None


def _integrate_signals(log_magnitude: np.ndarray, previous_log_magnitude: np.ndarray, previous_phase: np.ndarray,
                       frames_done: int, n_fft: int, hop: int, lam: float, tolerance: float,
                       local_tolerance: float, corrections_bins: np.ndarray,
                       previous_corrections_bins: np.ndarray) -> np.ndarray:
    """(signals, frames, bins) -> centre-convention phase. The signals (stereo channels) run side by side on
    two threads: the kernel releases the GIL. (Not numba's parallel mode: its OpenMP layer resets torch's
    thread count on first use, and the engine sets that count on purpose.)"""
    global _pool
    out = np.empty(log_magnitude.shape)

    def one(i: int) -> None:
        out[i] = _integrate(log_magnitude[i], previous_log_magnitude[i], previous_phase[i], frames_done, n_fft,
                            hop, lam, tolerance, local_tolerance, corrections_bins[i], previous_corrections_bins[i])

    if log_magnitude.shape[0] == 1:
        one(0)
        return out
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rtpghi")
    for future in [_pool.submit(one, i) for i in range(log_magnitude.shape[0])]:
        future.result()
    return out


def _run(frame_major: np.ndarray, n_fft: int, hop: int, state: PhaseState | None, tolerance_nats: float,
         boundary_every: int, local_tolerance_nats: float, corrections_bins: np.ndarray | None,
         ) -> tuple[np.ndarray, PhaseState, list[PhaseState]]:
    """frame_major log-magnitude (signals, frames, bins) and low-bin frequency corrections (signals, frames, K)
    or None -> (centre-convention phase (signals, frames, bins), next state, boundary states)."""
    # float32 stays float32 (the decoder's own precision; the kernel computes in float64 either way), and a
    # strided view stays a view as long as each frame's bins are contiguous (the decoder's stereo frames are
    # interleaved per frame: copying them apart would cost more than reading them in place)
    if frame_major.dtype not in (np.float32, np.float64):
        frame_major = frame_major.astype(np.float64)
    if frame_major.strides[-1] != frame_major.itemsize:
        frame_major = np.ascontiguousarray(frame_major)
    signals, frames, bins = frame_major.shape
    if bins != n_fft // 2 + 1:
        raise ValueError(f"{bins} bins do not match n_fft {n_fft}")
    if corrections_bins is None:
        corrections_bins = np.zeros((signals, frames, 0))
    corrections_bins = np.ascontiguousarray(corrections_bins, dtype=np.float64)
    if corrections_bins.shape[:2] != (signals, frames) or corrections_bins.shape[2] > bins:
        raise ValueError(f"frequency corrections {corrections_bins.shape} do not match the magnitude "
                         f"{frame_major.shape}")
    low_bins = corrections_bins.shape[2]
    state = state or PhaseState.empty(signals, bins)
    previous = state.previous_corrections_bins  # a state without (a stream's start, no branch): no correction
    if previous is None or previous.shape != (signals, low_bins):
        previous = np.zeros((signals, low_bins))
    lam = HANN_GAUSSIAN_LAMBDA_PER_N2 * n_fft * n_fft
    centre_to_start = np.pi * np.arange(bins)[None, :]
    centre = _integrate_signals(frame_major, np.ascontiguousarray(state.previous_log_magnitude, dtype=np.float64),
                                np.ascontiguousarray(state.previous_phase, dtype=np.float64), state.frames_done,
                                n_fft, hop, lam, tolerance_nats, local_tolerance_nats, corrections_bins,
                                np.ascontiguousarray(previous, dtype=np.float64))

    def corrections_after(end: int) -> np.ndarray | None:
        return corrections_bins[:, end - 1].copy() if low_bins else None

    if frames:
        next_state = PhaseState(frame_major[:, -1].astype(np.float64), centre[:, -1].copy(), state.frames_done + frames,
                                previous_corrections_bins=corrections_after(frames))
    else:
        next_state = PhaseState(state.previous_log_magnitude.copy(), state.previous_phase.copy(), state.frames_done,
                                previous_corrections_bins=state.previous_corrections_bins)
    boundaries = _boundary_states(frame_major, centre, corrections_bins, state.frames_done, boundary_every)
    centre -= centre_to_start  # in place (the array is ours): torch.stft's convention, what the states' tails read
    return centre, next_state, boundaries


def _boundary_states(frame_major: np.ndarray, centre: np.ndarray, corrections_bins: np.ndarray, frames_done: int,
                     every: int) -> list[PhaseState]:
    """The states after frames every, 2 every, ... of a call whose centre-convention phase is `centre` (its
    tails are read later from the same array in torch.stft's convention: _PhaseTail). Each state's arrays
    are slices of a few arrays built at once (one state's built at a time cost numpy calls per latent frame)."""
    signals, frames, bins = frame_major.shape
    if every <= 0 or frames < every:
        return []
    ends = np.arange(every, frames + 1, every)
    # (count, signals, ...) so that each state's slice is contiguous
    log_magnitude = np.ascontiguousarray(frame_major[:, ends - 1].astype(np.float64).transpose(1, 0, 2))
    phase = np.ascontiguousarray(centre[:, ends - 1].transpose(1, 0, 2))
    low = np.ascontiguousarray(corrections_bins[:, ends - 1].transpose(1, 0, 2)) if corrections_bins.shape[2] else None
    return [PhaseState(log_magnitude[i], phase[i], frames_done + int(end), _PhaseTail(centre, int(end), every),
                       None if low is None else low[i]) for i, end in enumerate(ends)]


def rtpghi_phase(log_magnitude: np.ndarray, n_fft: int, hop: int, state: PhaseState | None = None,
                 tolerance_nats: float = DEFAULT_TOLERANCE_NATS, boundary_every: int = 0,
                 local_tolerance_nats: float = DEFAULT_LOCAL_TOLERANCE_NATS, frame_major: bool = False,
                 frequency_corrections_bins: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, PhaseState, list[PhaseState]]:
    """Phase for log_magnitude (signals, bins, frames) -> (phase (signals, bins, frames) in torch.stft's
    convention, the state to continue with, and with `boundary_every` = b the states after frames b, 2b, ...).
    Pass a returned state to the next call to continue the stream from there. `frame_major`: the log-magnitude
    is given, and the phase returned, as contiguous (signals, frames, bins) arrays instead (the layout the
    decoder's head writes and an inverse FFT over the bins reads fastest: no transposed copies).
    `frequency_corrections_bins` (signals, frames, K), frame-major whatever `frame_major` says: bins 1..K-1
    advance at the frequency read off the magnitude plus correction * sample_rate / n_fft (a decoder that
    corrects the low partials' frequencies: at 21.5 Hz bins a peak's shape cannot place a 41 Hz tone; the true
    frequency minus `magnitude_frequency_offsets` gives the input's own). The returned phase array is shared
    with the boundary states (their `tail_phase` is read from it): do not write into it."""
    frames_first = log_magnitude if frame_major else np.asarray(log_magnitude).transpose(0, 2, 1)
    phase, next_state, boundaries = _run(frames_first, n_fft, hop, state, tolerance_nats, boundary_every,
                                         local_tolerance_nats, frequency_corrections_bins)
    return (phase if frame_major else phase.transpose(0, 2, 1)), next_state, boundaries
