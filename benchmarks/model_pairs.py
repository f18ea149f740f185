"""Two diffusion models on the same unseen prompts, paired: which one renders more of them right. Prints a table.

    .venv/bin/python benchmarks/model_pairs.py --dataset data/ds10h --weights A.safetensors B.safetensors \
        [--seeds 1 2] [--n 100] [--json out.json] [--a-from earlier.json]

quality.py scores one model on 100 prompts; two models a few points apart there (session 22: style 0.72 vs 0.76)
cannot be told apart that way. Here each prompt (quality.py's evaluation prompts for each seed: held-out
paraphrases and unseen combinations; a text drawn twice is kept once) is rendered as `cascade render PROMPT` takes it
(tempo, key and scale read from the words by the default reader) by both models with the same seed, and each render
is scored as quality.py scores it: essentia's tempo (Acc1 within 4 %, Acc2 also x2, x3, 1/2, 1/3) and key + scale
(major and minor prompts), the style judge (benchmarks/style_judge.py, fitted on the dataset's real training and
valid clips). Per measure: each model's accuracy, the prompts only A gets right and only B, and the two-sided sign
test's p over those (the chance of a split at least that uneven if both models were equally good). A run's JSON can
stand in for rendering A again (--a-from: the same A by content, the same prompts and settings, or refused).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `benchmarks` importable when run as a script

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.quality import (SAMPLE_RATE, TONAL, _essentia_worker, evaluation_prompts,  # noqa: E402
                                excerpt_features, key_scale_right, load_rows, read_request)
from benchmarks.style_judge import StyleJudge  # noqa: E402
from engine.dataset.validate import tempo_relation  # noqa: E402
from engine.generate import Generator  # noqa: E402
from engine.harmony import KEY_HARMONY_SOURCES  # noqa: E402
from engine.prompt_words import settle  # noqa: E402
from engine.read_words import DEFAULT_READ_WORDS, prompt_reader  # noqa: E402

MEASURES = ("tempo_acc1", "tempo_acc2", "key_scale", "style")


def sign_test_p(only_a: int, only_b: int) -> float:
    """Two-sided exact sign test over the discordant pairs: P(a split at least this uneven | both equally good)."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def render_rights(prompt: dict, estimate: dict, judged_style: str) -> dict[str, bool | str | None]:
    """Which measures one render gets right (None: the measure does not apply, key + scale of a modal prompt), and
    what was heard: the judge's style, essentia's tempo and key (for reading the misses afterwards)."""
    relation = tempo_relation(prompt["tempo"], estimate["estimated_bpm"])
    key = key_scale_right(prompt, estimate) if prompt["scale"] in TONAL else None
    return {"tempo_acc1": relation == "exact", "tempo_acc2": relation != "wrong", "key_scale": key,
            "style": judged_style == prompt["style"], "judged_style": judged_style,
            "bpm": round(float(estimate["estimated_bpm"]), 1),
            "key": f"{estimate['estimated_key']} {estimate['estimated_scale']}"}


def paired_table(rights_a: list[dict], rights_b: list[dict]) -> list[dict]:
    """Per measure: n, each model's accuracy, the prompts only A / only B gets right, the sign test's p."""
    table = []
    for measure in MEASURES:
        pairs = [(a[measure], b[measure]) for a, b in zip(rights_a, rights_b)
                 if a[measure] is not None and b[measure] is not None]
        only_a = sum(a and not b for a, b in pairs)
        only_b = sum(b and not a for a, b in pairs)
        table.append({"measure": measure, "n": len(pairs), "a": float(np.mean([a for a, _ in pairs])),
                      "b": float(np.mean([b for _, b in pairs])), "only_a": only_a, "only_b": only_b,
                      "p": sign_test_p(only_a, only_b)})
    return table


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _settings(args: dict) -> dict:
    return {name: args[name] for name in ("dataset", "seeds", "n", "seconds", "steps", "cfg")} | {
        "dataset": str(args["dataset"])}


def earlier_rights(path: Path, weights: Path, prompts: list[str], args: dict) -> list[dict]:
    """Model A's per-prompt rights from an earlier run's JSON; refused unless that run rendered the same A file
    (by content), the same prompts and the same settings."""
    earlier = json.loads(path.read_text())
    if earlier.get("sha256", [None])[0] != file_sha256(weights):
        raise SystemExit(f"{path} scored another A ({earlier.get('weights', [None])[0]}) than {weights}")
    if earlier.get("settings") != _settings(args):
        raise SystemExit(f"{path} ran with {earlier.get('settings')}, this run with {_settings(args)}")
    if [row["prompt"] for row in earlier["per_prompt"]] != prompts:
        raise SystemExit(f"{path} scored other prompts")
    return [row["a"] for row in earlier["per_prompt"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--weights", type=Path, nargs=2, required=True, metavar=("A", "B"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2],
                        help="quality.py's prompt seeds (its own table uses 0)")
    parser.add_argument("--n", type=int, default=100, help="prompts per seed")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the table and per-prompt rows here")
    parser.add_argument("--a-from", type=Path, default=None, metavar="JSON",
                        help="take A's per-prompt rights from an earlier run's --json (same A, prompts and settings: "
                             "checked) instead of rendering A again")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    rows, paraphrases = load_rows(args.dataset)
    prompts: dict[str, dict] = {}
    for seed in args.seeds:
        for prompt in evaluation_prompts(rows, paraphrases, args.n, seed):
            prompts.setdefault(prompt["prompt"], prompt)
    chosen = list(prompts.values())
    styles = sorted({r["style"] for r in rows})
    excerpt = int(args.seconds * SAMPLE_RATE)

    judge = StyleJudge(styles, "full")  # fitted as quality.py fits it: real training and valid clips
    fit_rows = [r for r in rows if r["split"] in ("train", "valid")]
    with multiprocessing.get_context("fork").Pool(args.threads) as pool:
        features = excerpt_features(pool, judge, args.dataset, fit_rows, excerpt)
    judge.fit(features, np.array([styles.index(r["style"]) for r in fit_rows]))
    print(f"[{time.monotonic() - started:.0f} s] style judge fitted; {len(chosen)} prompts", flush=True)

    reader = prompt_reader(DEFAULT_READ_WORDS)
    words = [settle((reader(p["prompt"]),), (1.0,)) for p in chosen]
    requests = [replace(read_request(p["prompt"], w, args.cfg, args.steps, KEY_HARMONY_SOURCES[0]), seed=index)
                for index, (p, w) in enumerate(zip(chosen, words))]
    rights: list[list[dict]] = []
    to_render = list(args.weights)
    if args.a_from is not None:
        rights.append(earlier_rights(args.a_from, args.weights[0], [p["prompt"] for p in chosen], vars(args)))
        to_render = to_render[1:]
    with multiprocessing.get_context("fork").Pool(1) as pool:
        for weights in to_render:
            generator = Generator.load(weights, traced=True)
            audios = [generator.render(request, args.seconds) for request in requests]
            estimates = pool.map(_essentia_worker, audios)
            judged = judge.predict(np.stack([judge.features(a) for a in audios]))
            rights.append([render_rights(p, e, styles[int(s)]) for p, e, s in zip(chosen, estimates, judged)])
            del generator, audios
            print(f"[{time.monotonic() - started:.0f} s] rendered and scored {weights}", flush=True)

    table = paired_table(rights[0], rights[1])
    print(f"A: {args.weights[0]}\nB: {args.weights[1]}")
    print(f"{len(chosen)} prompts (quality.py's, seeds {args.seeds}), as `cascade render PROMPT`, {args.steps} steps, "
          f"CFG {args.cfg}, {args.seconds:.0f} s each")
    print("| measure | n | A | B | only A right | only B right | sign test p |")
    print("|---|---|---|---|---|---|---|")
    for row in table:
        print(f"| {row['measure']} | {row['n']} | {row['a']:.3f} | {row['b']:.3f} | {row['only_a']} | {row['only_b']} | "
              f"{row['p']:.3f} |")
    print(f"wall {time.monotonic() - started:.0f} s")
    if args.json:
        per_prompt = [{"prompt": p["prompt"], "a": ra, "b": rb} for p, ra, rb in zip(chosen, *rights)]
        args.json.write_text(json.dumps({"weights": [str(w) for w in args.weights],
                                         "sha256": [file_sha256(w) for w in args.weights], "seeds": args.seeds,
                                         "settings": _settings(vars(args)), "table": table,
                                         "per_prompt": per_prompt}, indent=1))


if __name__ == "__main__":
    main()
