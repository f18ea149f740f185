"""Faster CPU inference paths for the U-Net, kept beside the plain torch module (which training and GPUs use).

`TracedNetwork` traces the U-Net with TorchScript per input shape (offline rendering also freezes it:
constants folded, conv + norm fused where possible) and pads the text tokens to a bucket so a new prompt
length rarely means a new trace. It is a drop-in for `UNet1D` inside `VDenoiser` (same call, same outputs
within float error).

`background=True` is for the live engine, which must not wait for a trace mid-performance: a call whose
shape has no traced module runs the eager U-Net and hands the shape to a tracer thread, and later calls of
that shape run traced. With `trace_first_inline` (the default) the very first shape is traced inline instead
(the app, before its first sound); `cascade play` turns that off: its first chunk runs eager (~1 s sooner to
the first sound than trace + chunk) and the tracer waits for `release_tracer()`, which the session calls at
the first sound. Why it matters how: a module trace held the GIL up to ~56 ms at a time (freezing held it 102 ms
more, measured with a 1 ms probe thread; the live trace of a function, below, up to ~30 ms), so the session's feeder keeps a longer dry lead while `tracing`
(the effects pump itself runs in the output process, out of reach); mid-performance traces used to cost
underruns (measured: four 30-37-token prompts of the default preset blended past a 128-token bucket, and
each such trace cost ~7 underruns). The live engine therefore pads tokens to the widest blend there can be
(256: four prompts of at most 64 word pieces), so its one shape is traced once; a smaller batch (CFG at
exactly 1 has no unconditional pass) runs padded inside the traced one, and other shapes (another window,
a wider batch) are a fallback the instrument does not take.

The live engine's modules are traced, not frozen: at its bucket freezing was slower (benchmarks/realtime.py,
2026-11-22: 49 ms a step frozen, 38 ms traced; eager on the prompt's own 26 tokens 33-40 ms, so the bucket's
padding eats most of what tracing gains there, and the live gain is mainly that no GIL is held while the
U-Net runs; 2026-12-06, with the text's cross-attention keys made once a chunk and handed in, not projected
from the 256 padded tokens at every step: 32 ms a step frozen, 25 traced). Offline rendering's shape (128
frames, 32 tokens) still gains from freezing. A new module's
first two calls are TorchScript's profiling runs (~3x slower), so the tracer warms a module with two calls
before it is used; a trace on a thread with the executor's optimisation off (the app's warm-up before its
first sound: engine.generate.Generator.warm_up) skips them, and the engine's thread profiles on first use.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from dataclasses import replace

import torch
from torch import nn

from engine.diffusion.conditioning import Conditioning
from engine.diffusion.unet import UNet1D

TOKEN_BUCKET = 32  # token lengths are padded up to a multiple of this
# ... in the live engine: 4 prompt slots x 64 word pieces (PromptEncoder's max_tokens), so every blend the
# instrument can make is one shape, traced before the first sound (~10 % more compute a step than 32).
LIVE_TOKEN_BUCKET = 256


logger = logging.getLogger(__name__)


class _TensorCall(nn.Module):
    """The U-Net called with its conditioning as plain tensors (x, t, then `Conditioning.as_tensors()` with
    token weights): TorchScript traces tensors, not dataclasses."""

    def __init__(self, network: UNet1D) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor, t: torch.Tensor, *conditioning: torch.Tensor) -> torch.Tensor:
        return self.network(x, t, Conditioning(*conditioning))


Signature = tuple[int, int, int]  # (batch, frames, padded token length)
TracedCall = torch.jit.ScriptFunction | torch.jit.ScriptModule  # the U-Net's call for one signature


class TracedNetwork(nn.Module):
    """UNet1D's call, run by a TorchScript module per input signature (see the module docstring)."""

    def __init__(self, network: UNet1D, *, background: bool = False, token_bucket: int = TOKEN_BUCKET,
                 trace_first_inline: bool = True) -> None:
        """trace_first_inline=False (background only): even the first shape runs eager, and the tracer thread
        waits for `release_tracer()` (the live session calls it at the first sound: tracing beside the first
        chunk would slow that chunk down, and the first sound is what a player waits for)."""
        super().__init__()
        # Inference only; the live trace records the weights as constants, which torch refuses for tensors
        # that require grad.
        self.network = network.eval().requires_grad_(False)
        self.config = network.config
        self.background = background
        self.token_bucket = token_bucket
        self.trace_first_inline = trace_first_inline
        self._tracer_gate = threading.Event()
        if trace_first_inline or not background:
            self._tracer_gate.set()
        self._traced: dict[Signature, TracedCall] = {}
        self._queued: set[Signature] = set()  # handed to the tracer thread (a failed one is never retried)
        self._failed: set[Signature] = set()
        self._jobs: queue.SimpleQueue[tuple[Signature, tuple[torch.Tensor, ...]]] = queue.SimpleQueue()
        self._tracer: threading.Thread | None = None  # runs while there are jobs, then ends
        self._tracer_lock = threading.Lock()

    @property
    def traced_signatures(self) -> tuple[Signature, ...]:
        return tuple(self._traced)

    def release_tracer(self) -> None:
        """Let the tracer thread start tracing the shapes queued so far (and any later)."""
        self._tracer_gate.set()

    def settle(self, timeout_s: float = 15.0) -> bool:
        """Drop the shapes still waiting for the tracer (they are queued again when next used) and wait for the
        one being traced, if any. Call before the process may exit: a daemon thread inside torch.jit.trace at
        interpreter shutdown aborts the process (`cascade play --seconds 5` died so in 2 of 5 runs). False if
        the trace outlasted `timeout_s`."""
        with self._tracer_lock:
            while True:
                try:
                    signature, _ = self._jobs.get_nowait()
                except queue.Empty:
                    break
                self._queued.discard(signature)
            tracer = self._tracer
        if tracer is None or not self._tracer_gate.is_set():
            return True  # no thread, or one parked at the gate (outside torch: harmless at exit)
        tracer.join(timeout_s)
        return not tracer.is_alive()

    @property
    def tracing(self) -> bool:
        """Whether shapes are queued or being traced: the main process's GIL is then held for up to ~30 ms at
        a time, and the live session lengthens its dry lead meanwhile."""
        return self._tracer_gate.is_set() and self._shapes_pending()

    def _shapes_pending(self) -> bool:
        """Whether a shape handed to the tracer is neither traced nor failed yet."""
        return any(sig not in self._traced and sig not in self._failed for sig in list(self._queued))

    def _wider_batch(self, signature: Signature) -> Signature | None:
        batch, frames, tokens = signature
        wider = [sig for sig in list(self._traced) if sig[1:] == (frames, tokens) and sig[0] > batch]
        return min(wider) if wider else None

    def wait_until_traced(self, timeout_s: float = 30.0) -> bool:
        """Block until every shape handed to the tracer is traced (or failed); False on timeout."""
        deadline_s = time.monotonic() + timeout_s
        while self._shapes_pending():
            if time.monotonic() > deadline_s:
                return False
            time.sleep(0.01)
        return True

    def _trace(self, inputs: tuple[torch.Tensor, ...]) -> TracedCall:
        # The trace records the shape checks as constants (right: one trace per shape) and torch marks
        # TorchScript deprecated; neither warning is news to a user rendering a file.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            if self.background:
                # A function of the inputs, the weights recorded as constants: no ScriptModule is built from
                # the module tree, which halves the trace (0.19 vs 0.40 s here) and its longest GIL hold
                # (24-29 vs 50 ms, 1 ms probe thread); a step runs as fast (37 vs 36 ms).
                tensor_call = _TensorCall(self.network)

                def call(*args: torch.Tensor) -> torch.Tensor:
                    return tensor_call(*args)

                module = torch.jit.trace(call, inputs, check_trace=False)
            else:
                module = torch.jit.trace(_TensorCall(self.network), inputs, check_trace=False)
                module = torch.jit.optimize_for_inference(torch.jit.freeze(module.eval()))
            if torch._C._get_graph_executor_optimize():  # thread-local; off, calls are not profiled
                for _ in range(2):  # the profiling runs: slow, so not on a chunk's clock
                    module(*inputs)
            return module

    def _tracer_loop(self) -> None:
        self._tracer_gate.wait()
        while True:
            with self._tracer_lock:
                if self._jobs.empty():  # nothing left: the thread ends (a later job starts a new one)
                    self._tracer = None
                    return
                signature, inputs = self._jobs.get()
            try:
                self._traced[signature] = self._trace(inputs)  # one dict store: the caller sees it whole
            except Exception:  # noqa: BLE001 - the eager path keeps working; say why once
                logger.exception("tracing the U-Net for %s failed; that shape stays eager", signature)
                self._failed = self._failed | {signature}

    def cross_keys(self, conditioning: Conditioning) -> torch.Tensor:
        """The U-Net's cross-attention keys of the text (UNet1D.cross_keys), made eagerly: once a chunk."""
        return self.network.cross_keys(conditioning)

    def _padded_tokens(self, conditioning: Conditioning, dtype: torch.dtype) -> Conditioning:
        """Tokens, mask, weights (ones where not given) and the cross-attention keys (made here where not
        given) padded to the token bucket: masked padding changes nothing but the shape, so a new prompt length
        rarely means a new trace."""
        conditioning = conditioning.with_token_weights(dtype)
        if conditioning.cross_keys is None:
            conditioning = replace(conditioning, cross_keys=self.cross_keys(conditioning))
        tokens, token_mask, token_weights = conditioning.tokens, conditioning.token_mask, conditioning.token_weights
        cross_keys = conditioning.cross_keys
        batch, length = token_mask.shape
        bucket = self.token_bucket
        padded = max(bucket, -(-length // bucket) * bucket)
        if padded != length:
            extra = padded - length
            tokens = torch.cat([tokens, tokens.new_zeros(batch, extra, tokens.shape[-1])], 1)
            token_mask = torch.cat([token_mask, token_mask.new_zeros(batch, extra)], 1)
            token_weights = torch.cat([token_weights, token_weights.new_ones(batch, extra)], 1)
            cross_keys = torch.cat([cross_keys, cross_keys.new_zeros(batch, extra, cross_keys.shape[-1])], 1)
        return replace(conditioning, tokens=tokens, token_mask=token_mask, token_weights=token_weights,
                       cross_keys=cross_keys)

    def forward(self, x: torch.Tensor, t: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        conditioning = self._padded_tokens(conditioning, x.dtype)
        inputs = (x, t, *conditioning.as_tensors())
        signature = (x.shape[0], x.shape[-1], conditioning.token_mask.shape[1])
        batch = x.shape[0]
        module = self._traced.get(signature)
        if module is None and self.background:
            wider = self._wider_batch(signature)
            if wider is not None:
                # A smaller batch (CFG at exactly 1 needs no unconditional pass) runs in the traced wider
                # one, padded with copies of its last row: the same compute as the usual chunk, no new trace.
                extra_rows = wider[0] - batch
                padded_inputs = tuple(torch.cat([tensor, tensor[-1:].expand(extra_rows, *tensor.shape[1:])])
                                      for tensor in inputs)
                return self._traced[wider](*padded_inputs)[:batch]
        if module is None and self.background and (self._traced or not self.trace_first_inline):
            if signature not in self._queued:
                self._queued.add(signature)
                with self._tracer_lock:
                    self._jobs.put((signature, tuple(tensor.detach().clone() for tensor in inputs)))
                    if self._tracer is None:
                        self._tracer = threading.Thread(target=self._tracer_loop, name="cascade-tracer",
                                                        daemon=True)
                        self._tracer.start()
            return self.network(x, t, conditioning)
        if module is None:
            module = self._traced[signature] = self._trace(inputs)
        return module(*inputs)
