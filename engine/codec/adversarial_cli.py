"""The command line of the decoder's adversarial fine-tune (engine/codec/adversarial.py, whose docstring says
what it does): one option per AdversarialConfig field. Run it as

    python -m engine.codec.adversarial --data BUNDLE --out RUN --minutes 8 [--init engine/weights/autoencoder.safetensors]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from engine.codec import adversarial
from engine.codec.adversarial import AdversarialConfig, train
from engine.codec.discriminator import LOSS_KINDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine.codec.adversarial",
                                     description=adversarial.__doc__.split("\n\n")[0])
    defaults = AdversarialConfig(out_dir=Path("."))
    for field in fields(AdversarialConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        if field.name == "out_dir":
            parser.add_argument("--out", dest="out_dir", type=Path, required=True, help="run folder (state, log, export)")
        elif field.name in ("data", "dataset", "init", "export"):
            parser.add_argument(flag, type=Path, default=default, help=f"default {default}")
        elif field.name in ("loss",):
            parser.add_argument(flag, choices=LOSS_KINDS, default=default)
        elif field.name == "device":
            parser.add_argument(flag, default=default, help="cpu or cuda (default: cuda when there is one)")
        else:
            parser.add_argument(flag, type=type(default), default=default, help=f"default {default}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = AdversarialConfig(**vars(args))
    try:
        config.validate()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = train(config)
    print(json.dumps({k: str(v) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
