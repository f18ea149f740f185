"""The shared vocabulary agrees with what the models, the dataset, the sampler table and the parameters expect."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine import vocabulary
from engine.vocabulary import (AUDIO_CHANNELS, DESCRIPTOR_MODEL_NAMES, DESCRIPTOR_SHORT_NAMES, DESCRIPTORS,
                               KEY_TONICS, LATENT_HOP_FRAMES, N_PROMPT_SLOTS, NO_KEY, NO_SCALE, SAMPLE_RATE,
                               SAMPLER_NAMES, SCALES, scale_index, tonic_index)


def test_tonics_and_scales_are_the_datasets_in_training_order() -> None:
    from engine.dataset.score import PITCH_CLASS_NAMES, SCALE_INTERVALS

    assert KEY_TONICS == PITCH_CLASS_NAMES
    # The latent cache stores scale_index(row["scale"]): the index the U-Net's scale embedding learned.
    assert SCALES == tuple(SCALE_INTERVALS)
    assert [scale_index(scale) for scale in SCALE_INTERVALS] == list(range(len(SCALE_INTERVALS)))
    assert [tonic_index(tonic) for tonic in PITCH_CLASS_NAMES] == list(range(12))


def test_no_key_and_no_scale_are_the_unets_extra_embedding_rows() -> None:
    from engine.diffusion.unet import MODEL_PRESETS, UNetConfig

    for config in (UNetConfig(), *MODEL_PRESETS.values()):
        assert config.n_keys == NO_KEY == 12 and config.n_scales == NO_SCALE == 4
        assert config.descriptor_channels == len(DESCRIPTORS)


def test_descriptor_names_are_the_models_and_the_datasets() -> None:
    from engine.dataset.descriptors import DESCRIPTOR_NAMES as DATASET_NAMES
    from engine.diffusion.unet import DESCRIPTOR_NAMES as UNET_NAMES

    assert UNET_NAMES == DESCRIPTOR_MODEL_NAMES == DATASET_NAMES
    assert DESCRIPTOR_SHORT_NAMES == ("loudness", "brightness", "noisiness", "density")
    assert len({d.label for d in DESCRIPTORS}) == len(DESCRIPTORS)


def test_descriptor_parameters_and_labels_are_the_parameter_stores() -> None:
    from instrument.parameters import PARAMETER_SPECS

    specs = {spec.name: spec for spec in PARAMETER_SPECS}
    for descriptor in DESCRIPTORS:
        assert specs[descriptor.parameter].group == "descriptors"
        assert specs[descriptor.parameter].label == descriptor.label
        assert specs[f"{descriptor.parameter}_enabled"].label == descriptor.label


def test_samplers_are_the_sampling_tables_and_the_parameters_choices() -> None:
    from engine.diffusion.sampling import SAMPLERS
    from instrument.parameters import PARAMETER_SPECS

    assert set(SAMPLERS) == set(SAMPLER_NAMES) and len(SAMPLER_NAMES) == len(SAMPLERS)
    choices = {spec.name: spec.choices for spec in PARAMETER_SPECS}
    # The stored index of each choice is what presets and MIDI save: the order must not change.
    assert choices["sampler"] == SAMPLER_NAMES == ("dpmpp_2m", "ddim", "euler")
    assert choices["key"] == KEY_TONICS and choices["scale"] == SCALES


def test_prompt_slots_are_the_parameter_stores() -> None:
    from instrument.parameters import PARAMETER_SPECS, ParameterStore

    names = {spec.name for spec in PARAMETER_SPECS}
    assert {f"prompt_{slot + 1}_weight" for slot in range(N_PROMPT_SLOTS)} <= names
    assert f"prompt_{N_PROMPT_SLOTS + 1}_weight" not in names
    assert len(ParameterStore().prompt_texts()) == N_PROMPT_SLOTS


def test_rates_are_the_autoencoders() -> None:
    from engine.codec.model import DEBUG_CONFIG, AutoencoderConfig

    for config in (AutoencoderConfig(), DEBUG_CONFIG):
        assert config.sample_rate == SAMPLE_RATE == 44100
        assert config.hop_frames == LATENT_HOP_FRAMES == 1024
        assert config.audio_channels == AUDIO_CHANNELS == 2


def test_key_and_scale_names() -> None:
    assert tonic_index("Bb") == tonic_index("A#") == 10
    assert tonic_index("c") == 0
    assert tonic_index(" eb ") == 3
    assert scale_index("Dorian") == 2
    assert scale_index(" MINOR ") == 1
    with pytest.raises(ValueError):
        tonic_index("H")
    with pytest.raises(ValueError):
        tonic_index("")
    with pytest.raises(ValueError, match="known: major, minor, dorian, mixolydian"):
        scale_index("lydian")


def test_the_vocabulary_imports_nothing_heavy() -> None:
    """The GUI, the output process and the dataset tools read it without loading torch or Qt."""
    code = ("import sys; import engine.vocabulary, instrument.parameters; "
            "print(sorted(m for m in ('torch', 'numpy', 'PySide6') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=vocabulary.__file__.rsplit("/engine/", 1)[0])
    assert result.stdout.strip() == "[]"
