"""`cascade train autoencoder`, `cascade train diffusion` and `cascade train words-reader`: train (or resume training)
the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from instrument.arguments import integer_in, number_in, thread_count


def _cmd_train_autoencoder(args: argparse.Namespace) -> int:
    from engine.codec.train import TrainConfig, export_run, train

    if args.export_only:
        path = export_run(Path(args.dataset), Path(args.out))
        print(f"exported the EMA weights of {args.out} to {path}")
        return 0

    config = TrainConfig(dataset=Path(args.dataset), out_dir=Path(args.out), steps=args.steps,
                         batch_size=args.batch_size, learning_rate=args.learning_rate,
                         debug_model=args.debug_model, threads=args.threads,
                         checkpoint_every=args.checkpoint_every,
                         init_from=Path(args.init_from) if args.init_from else None,
                         freeze_encoder=args.freeze_encoder, tone_fraction=args.tone_fraction,
                         time_gradient_weight=args.time_gradient_weight,
                         peak_pitch_weight=args.peak_pitch_weight,
                         output_spectral_weight=args.output_spectral_weight,
                         frequency_bins=args.frequency_bins, frequency_weight=args.frequency_weight,
                         frequency_branch_only=args.frequency_branch_only,
                         low_tone_fraction=args.low_tone_fraction)
    result = train(config)
    print(f"trained {result['steps']} steps in {result['seconds']:.0f} s; weights: {Path(args.out) / 'autoencoder.safetensors'}")
    return 0


def _cmd_train_diffusion(args: argparse.Namespace) -> int:
    from engine.diffusion.latents import MissingChromaError, build_latent_cache, dataset_has_chroma
    from engine.diffusion.train import DiffusionTrainConfig, train_diffusion
    from engine.weights_io import CheckpointError

    cache = Path(args.cache)
    if not cache.exists():
        if not args.dataset:
            print(f"error: {cache} does not exist; pass --dataset DIR to build it", file=sys.stderr)
            return 2
        if args.harmony and not dataset_has_chroma(args.dataset):
            print(f"error: {args.dataset} has no chroma (built before chroma was stored): --harmony trains on it; "
                  f"rebuild the dataset with `cascade dataset build`", file=sys.stderr)
            return 2
        from engine.codec.checkpoint import DEFAULT_WEIGHTS

        build_latent_cache(Path(args.dataset), cache, Path(args.autoencoder or DEFAULT_WEIGHTS))
    config = DiffusionTrainConfig(cache=cache, out_dir=Path(args.out), model=args.model, steps=args.steps,
                                  batch_size=args.batch_size, window_frames=args.window_frames,
                                  learning_rate=args.learning_rate, threads=args.threads,
                                  checkpoint_every=args.checkpoint_every, batches=args.batches, harmony=args.harmony,
                                  init_from=Path(args.init_from) if args.init_from else None,
                                  max_minutes=args.minutes)
    try:
        result = train_diffusion(config)
    except (MissingChromaError, CheckpointError) as error:  # said at start, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"trained {result['steps']} steps in {result['seconds']:.0f} s; weights: {Path(args.out) / 'diffusion.safetensors'}")
    return 0


def _cmd_train_words_reader(args: argparse.Namespace) -> int:
    from engine.dataset.manifest import MANIFEST_NAME
    from engine.diffusion.train_words_reader import WordsReaderTrainConfig, train_words_reader

    manifest = Path(args.dataset) / MANIFEST_NAME
    if not manifest.is_file():
        print(f"error: {manifest} does not exist: --dataset takes a folder built by `cascade dataset build`",
              file=sys.stderr)
        return 2
    config = WordsReaderTrainConfig(dataset=Path(args.dataset), out=Path(args.out), examples=args.examples,
                                    steps=args.steps, batch_size=args.batch_size, seed=args.seed, threads=args.threads)
    result = train_words_reader(config, log=lambda line: print(line, flush=True))
    print(f"trained {result['steps']} steps in {result['seconds']:.0f} s; valid accuracy {result['valid_accuracy']}; "
          f"weights: {args.out}")
    return 0


def add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train the models")
    train_commands = train.add_subparsers(title="models", required=True)
    _add_autoencoder(train_commands)
    _add_diffusion(train_commands)


def _add_autoencoder(train_commands: argparse._SubParsersAction) -> None:
    autoencoder = train_commands.add_parser("autoencoder", help="the magnitude autoencoder (resumable)")
    autoencoder.add_argument("--dataset", required=True, help="dataset folder (manifest.jsonl)")
    autoencoder.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    autoencoder.add_argument("--steps", type=integer_in(1, 100_000_000), default=20000)
    autoencoder.add_argument("--batch-size", type=integer_in(1, 4096), default=8)
    autoencoder.add_argument("--learning-rate", type=number_in(0.0, 1.0, above_minimum=True), default=4e-4)
    autoencoder.add_argument("--checkpoint-every", type=integer_in(1, 100_000_000), default=200)
    autoencoder.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    autoencoder.add_argument("--debug-model", action="store_true", help="tiny config (tests, smoke runs)")
    autoencoder.add_argument("--init-from", help="start from this autoencoder file (format 1 or 2)")
    autoencoder.add_argument("--freeze-encoder", action="store_true",
                             help="keep --init-from's encoder and latent statistics (the diffusion model's latent)")
    autoencoder.add_argument("--time-gradient-weight", type=number_in(0.0, 100.0), default=1.0,
                             help="weight of the log-magnitude's frame-to-frame gradient loss (against ripple)")
    autoencoder.add_argument("--peak-pitch-weight", type=number_in(0.0, 100.0), default=0.0,
                             help="weight of the pitch error (hundreds of cents) the phase integration would read "
                                  "off the spectral peaks")
    autoencoder.add_argument("--output-spectral-weight", type=number_in(0.0, 100.0), default=0.0,
                             help="weight of the decoded audio's multi-resolution log-spectral L1 against the input "
                                  "(through the integrated phase, held fixed)")
    autoencoder.add_argument("--tone-fraction", type=number_in(0.0, 1.0), default=0.25,
                             help="share of each batch that is random harmonic tones (pitch anywhere, not just notes)")
    autoencoder.add_argument("--frequency-bins", type=integer_in(0, 1025), default=0,
                             help="give the decoder a low-bin frequency branch for bins below this (0: none)")
    autoencoder.add_argument("--frequency-weight", type=number_in(0.0, 100.0), default=1.0,
                             help="weight of the branch's pitch error (hundreds of cents)")
    autoencoder.add_argument("--frequency-branch-only", action="store_true",
                             help="train only the frequency branch: --init-from's encoder, magnitude and levels stay")
    autoencoder.add_argument("--low-tone-fraction", type=number_in(0.0, 1.0), default=0.0,
                             help="share of the tones whose root is drawn in 38-300 Hz")
    autoencoder.add_argument("--export-only", action="store_true",
                             help="write the run's current EMA weights to OUT/autoencoder.safetensors and stop")
    autoencoder.set_defaults(func=_cmd_train_autoencoder)


def _add_diffusion(train_commands: argparse._SubParsersAction) -> None:
    diffusion = train_commands.add_parser("diffusion", help="the text-conditioned latent diffusion U-Net (resumable)")
    diffusion.add_argument("--cache", required=True, help="latent cache .safetensors (built from --dataset if missing)")
    diffusion.add_argument("--dataset", default=None, help="dataset folder to build the cache from")
    diffusion.add_argument("--autoencoder", default=None, help="autoencoder weights for the cache (default: shipped)")
    diffusion.add_argument("--out", required=True, help="run folder: checkpoints, log, exported weights")
    diffusion.add_argument("--model", default="small", help="size preset: debug, small, base")
    diffusion.add_argument("--steps", type=integer_in(1, 100_000_000), default=20000)
    diffusion.add_argument("--batch-size", type=integer_in(1, 4096), default=16)
    diffusion.add_argument("--window-frames", type=integer_in(8, 8192), default=128,
                           help="training window in latent frames")
    diffusion.add_argument("--learning-rate", type=number_in(0.0, 1.0, above_minimum=True), default=3e-4)
    diffusion.add_argument("--checkpoint-every", type=integer_in(1, 100_000_000), default=250)
    diffusion.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    diffusion.add_argument("--batches", choices=("auto", "cache", "device"), default="auto",
                           help="where batches are built: device (tensor ops on the GPU), cache (a CPU loop); "
                                "auto: device on CUDA")
    diffusion.add_argument("--harmony", action="store_true",
                           help="add the harmony control (the score's chroma as 12 input channels + a mask, what "
                                "`cascade render --chords` steers); needs a cache from a dataset with chroma")
    diffusion.add_argument("--init-from", default=None,
                           help="start from this diffusion model file (e.g. the shipped one); with --harmony a model "
                                "without the harmony control gains it, starting from zero weights (--model is ignored)")
    diffusion.add_argument("--minutes", type=number_in(0.0, 10_000_000.0, above_minimum=True), default=None,
                           help="stop after this much wall clock (saved and exported as at the last step), wherever "
                                "the step count is; one process only")
    diffusion.set_defaults(func=_cmd_train_diffusion)

    reader = train_commands.add_parser("words-reader", help="the words reader: tempo, key and scale read from a prompt's "
                                                            "text encoder tokens (minutes on a CPU)")
    reader.add_argument("--dataset", required=True, help="a built dataset: its training clips give the caption facts")
    reader.add_argument("--out", required=True, help="the weights file to write (.safetensors)")
    reader.add_argument("--examples", type=integer_in(16, 10_000_000), default=40_000, help="training texts")
    reader.add_argument("--steps", type=integer_in(1, 10_000_000), default=3_000)
    reader.add_argument("--batch-size", type=integer_in(1, 65536), default=256)
    reader.add_argument("--seed", type=integer_in(0, 2**31 - 1), default=0)
    reader.add_argument("--threads", type=thread_count, default=0, help="torch CPU threads (0: default)")
    reader.set_defaults(func=_cmd_train_words_reader)
