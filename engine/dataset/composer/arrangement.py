"""The arrangement: sections of 4 or 8 bars and the energy (how many layers play, how busy) of every bar."""

from __future__ import annotations

import numpy as np

from engine.dataset.composer.draws import pick


def plan_energy(n_bars: int, rng: np.random.Generator) -> list[float]:
    """Sections of 4 (sometimes 8) bars: intro / groove / full / breakdown / build / outro."""
    sections: list[tuple[str, int]] = []
    bars_left = n_bars
    while bars_left > 0:
        length = min(bars_left, 8 if (rng.random() < 0.25 and bars_left >= 8) else 4)
        sections.append(("", length))
        bars_left -= length
    names: list[str] = []
    for i in range(len(sections)):
        if i == 0:
            name = "intro" if rng.random() < 0.7 else "groove"
        elif i == len(sections) - 1 and len(sections) >= 4 and rng.random() < 0.5:
            name = "outro"
        else:
            prev = names[-1]
            if prev == "breakdown":
                name = "build" if rng.random() < 0.6 else "full"
            elif prev == "build":
                name = "full"
            elif prev == "intro":
                name = pick(rng, ("groove", "groove", "build", "full"))
            elif prev == "full":
                name = pick(rng, ("breakdown", "groove", "full"))
            else:
                name = pick(rng, ("full", "full", "build", "breakdown"))
        names.append(name)
    base = {"intro": (0.25, 0.4), "groove": (0.5, 0.68), "full": (0.82, 1.0),
            "breakdown": (0.15, 0.32), "outro": (0.3, 0.45)}
    energy: list[float] = []
    for name, (_, length) in zip(names, sections):
        if name == "build":
            start, stop = 0.42 + 0.1 * float(rng.random()), 0.75 + 0.1 * float(rng.random())
            energy += [start + (stop - start) * k / max(1, length - 1) for k in range(length)]
        else:
            lo, hi = base[name]
            level = lo + (hi - lo) * float(rng.random())
            energy += [level] * length
    return [round(float(np.clip(e, 0.0, 1.0)), 3) for e in energy]
