"""The 1D U-Net and its v-objective denoiser (debug config, CPU, seconds)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.diffusion.conditioning import Conditioning
from engine.diffusion.sampling import classifier_free_guidance, karras_sigmas, sample_dpmpp_2m
from engine.diffusion.unet import DEBUG_UNET, AdaGNResBlock, AttentionBlock, UNet1D, UNetConfig, VDenoiser

FRAMES = 16


def conditioning(batch: int, seed: int = 0) -> Conditioning:
    generator = torch.Generator().manual_seed(seed)
    c = DEBUG_UNET
    return Conditioning(
        tokens=torch.randn(batch, 5, c.text_dim, generator=generator),
        token_mask=torch.tensor([[True, True, True, False, False]] * batch),
        pooled=torch.randn(batch, c.text_dim, generator=generator),
        tempo_bpm=torch.full((batch,), 120.0),
        key=torch.full((batch,), 9, dtype=torch.long),
        scale=torch.full((batch,), 1, dtype=torch.long),
        timing=torch.tensor([[0.0, 30.0]] * batch),
        controls=torch.randn(batch, c.control_channels, FRAMES, generator=generator),
    )


@pytest.fixture()
def denoiser() -> VDenoiser:
    torch.manual_seed(0)
    network = UNet1D(DEBUG_UNET)
    with torch.no_grad():  # zero-initialised layers hide the conditioning at init: give them weights
        network.output.weight.normal_(0, 0.05)
        for module in network.modules():
            if isinstance(module, AdaGNResBlock):
                module.conv2.weight.normal_(0, 0.05)
    return VDenoiser(network).eval()


def test_shapes_and_frame_multiple(denoiser: VDenoiser) -> None:
    x = torch.randn(3, DEBUG_UNET.latent_channels, FRAMES)
    out = denoiser(x, torch.full((3,), 2.0), conditioning(3))
    assert out.shape == x.shape and torch.isfinite(out).all()
    bad = conditioning(1)
    bad = replace(bad, controls=bad.controls[..., :15])
    with pytest.raises(ValueError, match="multiple"):
        denoiser(torch.randn(1, DEBUG_UNET.latent_channels, 15), torch.ones(1), bad)


@pytest.mark.parametrize("name", ["tokens", "pooled", "tempo_bpm", "key", "scale", "timing", "controls"])
def test_each_conditioning_input_changes_the_output(denoiser: VDenoiser, name: str) -> None:
    x = torch.randn(2, DEBUG_UNET.latent_channels, FRAMES)
    sigma = torch.full((2,), 1.5)
    base = conditioning(2)
    value = getattr(base, name)
    changed = replace(base, **{name: (value + 3) % 12 if value.dtype == torch.long else value + 1.0})
    with torch.no_grad():
        difference = (denoiser(x, sigma, base) - denoiser(x, sigma, changed)).abs().max()
    assert difference > 1e-4


def test_masked_tokens_do_not_matter(denoiser: VDenoiser) -> None:
    x = torch.randn(2, DEBUG_UNET.latent_channels, FRAMES)
    sigma = torch.full((2,), 1.5)
    base = conditioning(2)
    changed = replace(base, tokens=base.tokens.clone())
    changed.tokens[:, 3:] += 10.0  # only padded positions
    with torch.no_grad():
        torch.testing.assert_close(denoiser(x, sigma, base), denoiser(x, sigma, changed))


def test_cfg_scale_one_equals_the_conditional_model(denoiser: VDenoiser) -> None:
    x = torch.randn(2, DEBUG_UNET.latent_channels, FRAMES)
    sigma = torch.full((2,), 3.0)
    cond, uncond = conditioning(2, 1), conditioning(2, 2)
    with torch.no_grad():
        arguments = {"cond": {"conditioning": cond}, "uncond": {"conditioning": uncond}}
        guided = classifier_free_guidance(denoiser, 1.0)(x, sigma, **arguments)
        torch.testing.assert_close(guided, denoiser(x, sigma, cond))
        batched = classifier_free_guidance(denoiser, 3.0)(x, sigma, **arguments)
        manual = denoiser(x, sigma, uncond) + 3.0 * (denoiser(x, sigma, cond) - denoiser(x, sigma, uncond))
        torch.testing.assert_close(batched, manual, atol=1e-4, rtol=1e-4)


def test_training_steps_lower_the_v_loss() -> None:
    torch.manual_seed(1)
    denoiser = VDenoiser(UNet1D(DEBUG_UNET))
    optimiser = torch.optim.Adam(denoiser.parameters(), lr=3e-3)
    x0 = torch.sin(torch.linspace(0, 12, FRAMES))[None, None].repeat(4, DEBUG_UNET.latent_channels, 1)
    cond = conditioning(4)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=generator)  # one fixed batch: the loss must fall on it
    sigma = torch.tensor([0.3, 0.8, 1.5, 4.0])
    losses = []
    for _ in range(12):
        loss = denoiser.loss(x0, noise, sigma, cond).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_sampling_with_the_network_is_seeded(denoiser: VDenoiser) -> None:
    cond = conditioning(1)
    outs = []
    for _ in range(2):
        x = torch.randn(1, DEBUG_UNET.latent_channels, FRAMES, generator=torch.Generator().manual_seed(5)) * 80
        outs.append(sample_dpmpp_2m(denoiser, x, karras_sigmas(4), extra_args={"conditioning": cond}))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_token_weights_shift_attention_between_blended_prompts(denoiser: VDenoiser) -> None:
    x = torch.randn(1, DEBUG_UNET.latent_channels, FRAMES)
    sigma = torch.full((1,), 1.5)
    base = replace(conditioning(1), token_mask=torch.ones(1, 5, dtype=torch.bool))
    even = replace(base, token_weights=torch.full((1, 5), 0.5))  # relative weights: 0.5 everywhere = even
    first_heavy = replace(base, token_weights=torch.tensor([[0.9, 0.9, 0.9, 0.1, 0.1]]))
    with torch.no_grad():
        plain = denoiser(x, sigma, base)
        torch.testing.assert_close(denoiser(x, sigma, even), plain)  # equal weights = plain attention
        assert (denoiser(x, sigma, first_heavy) - plain).abs().max() > 1e-4


def test_conditioning_stacks_moves_and_unpacks_field_by_field() -> None:
    a, b = conditioning(1, 1), conditioning(2, 2)
    both = Conditioning.cat([a, b])
    assert both.batch_size == 3 and both.token_weights is None
    assert torch.equal(both.controls, torch.cat([a.controls, b.controls]))
    weighted = both.with_token_weights()
    assert weighted.token_weights is not None and torch.equal(weighted.token_weights, torch.ones(3, 5))
    rebuilt = Conditioning(*weighted.to("cpu").as_tensors())  # what the traced U-Net's call does
    assert rebuilt.cross_keys is None
    assert all(torch.equal(x, y) for x, y in zip(rebuilt.as_tensors()[:-1], weighted.as_tensors()[:-1]))


def test_cross_keys_made_once_give_what_each_call_would_make(denoiser: VDenoiser) -> None:
    network = denoiser.network
    x = torch.randn(2, DEBUG_UNET.latent_channels, FRAMES)
    sigma = torch.full((2,), 1.5)
    base = replace(conditioning(2), token_weights=torch.tensor([[0.9, 0.4, 0.2, 1.0, 1.0]] * 2))
    keys = network.cross_keys(base)
    widths = [DEBUG_UNET.channels[level] for level in DEBUG_UNET.attention_levels]  # each down and up, + the middle
    assert keys.shape == (2, 1 + 5, 2 * (2 * sum(widths) + DEBUG_UNET.channels[-1]))  # the null token's row first
    with torch.no_grad():
        each_call = denoiser(x, sigma, base)
        once = denoiser(x, sigma, replace(base, cross_keys=keys))
        torch.testing.assert_close(once, each_call, rtol=0, atol=0)
        # keys of other text are used as given: they are not recomputed behind the caller's back
        other = denoiser(x, sigma, replace(base, cross_keys=network.cross_keys(conditioning(2, seed=5))))
    assert (other - each_call).abs().max() > 1e-4


def test_cross_attention_is_torchs_multihead_attention_with_the_same_weights() -> None:
    # The shipped weights are nn.MultiheadAttention's; the block computes its attention itself (keys made once a
    # chunk) and must mean the same: for a packed (text_dim == channels) and a separate projection.
    torch.manual_seed(1)
    for channels, text_dim in ((24, 24), (16, 24)):
        block = AttentionBlock(channels, text_dim, heads=2, groups=4).eval()
        x, tokens = torch.randn(2, channels, 8), torch.randn(2, 6, text_dim)
        token_bias = torch.zeros(2, 6)
        token_bias[1, 3:] = float("-inf")
        token_bias[0, 2] = -0.7
        with torch.no_grad():
            ours = block(x, block.cross_keys(tokens), token_bias)
            h = block.norm_self(x).transpose(1, 2)
            expected = x + block.self_attention(h, h, h, need_weights=False)[0].transpose(1, 2)
            h = block.norm_cross(expected).transpose(1, 2)
            mask = token_bias[:, None, :].expand(-1, h.shape[1], -1).repeat_interleave(2, dim=0)
            expected = expected + block.cross_attention(h, tokens, tokens, attn_mask=mask,
                                                        need_weights=False)[0].transpose(1, 2)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def test_the_harmony_channels_are_opt_in_and_an_old_config_has_none() -> None:
    old = DEBUG_UNET.to_dict()
    del old["harmony_channels"]  # a file written before the field existed (the shipped model's)
    config = UNetConfig.from_dict(old)
    assert config == DEBUG_UNET and not config.harmony_channels
    harmony = replace(DEBUG_UNET, harmony_channels=True)
    assert harmony.control_channels == DEBUG_UNET.control_channels + 13
    assert UNetConfig.from_dict(harmony.to_dict()) == harmony
    network = UNet1D(harmony)
    assert network.input.in_channels == harmony.latent_channels + harmony.control_channels
    c = conditioning(1)
    wide = replace(c, controls=torch.randn(1, harmony.control_channels, FRAMES))
    assert network(torch.randn(1, harmony.latent_channels, FRAMES), torch.ones(1), wide).shape == (1, harmony.latent_channels, FRAMES)
