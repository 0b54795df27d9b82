"""The settings of transfer's keep bonus and search, with no torch: the CLI's parser reads them.

Measured in BENCHMARKS.md (issue 16) on Yelp and on the shipped VADER sentences, with models of
the default text recipe (`text_vader`) and with back-translation models.
"""

from __future__ import annotations

import math

from seqcvae.errors import ConfigError

KEEP_MODES = ("style", "order", "bag")
# The style mode leaves the words that carry the source style free and copies the rest; on both
# corpora it keeps more of the input than the order mode at equal accuracy.
DEFAULT_KEEP_MODE = "style"

# (guidance, keep) rungs, from the most conservative to the strongest, per keep mode. The style
# mode leaves the style words free, so it can copy the rest hard while guidance 5 rewrites them
# (keep 30 -> 0; guidance 4 and 6 lose on one corpus each, 8 on both); the ordered bonus copies
# the input unless it is strong enough to copy it whole, so its ladder holds guidance at 3 and
# lowers the bonus 10 -> 0; the bag bonus pulls less, so its ladder trades keep 3 -> 0 against
# guidance 1.5 -> 3.
DEFAULT_LADDERS: dict[str, tuple[tuple[float, float], ...]] = {
    "style": ((5, 30), (5, 20), (5, 15), (5, 12), (5, 10), (5, 8), (5, 6), (5, 4), (5, 2), (5, 0)),
    "order": ((3, 10), (3, 8), (3, 7), (3, 6), (3, 5), (3, 4), (3, 3), (3, 2), (3, 0)),
    "bag": ((1.5, 3), (1.5, 2), (2, 2), (1.5, 1), (2, 1), (2, 0), (3, 0)),
}
# nats: the model's own margin for the target over the source that a rewrite needs. The scale is
# the model's: 1 suits the default text recipe (Yelp 0.93 accuracy, VADER 0.86); back-translation
# models (train.cycle_weight) need about 5 with the guidance-4 ladder.
DEFAULT_MARGIN = 1.0
STYLE_MARK = 2.0  # nats: an input token this much likelier under the source than the target marks its style


def format_ladder(ladder: tuple[tuple[float, float], ...]) -> str:
    """ "W/B,W/B,..." as --search reads it."""
    return ",".join(f"{w:g}/{b:g}" for w, b in ladder)


def parse_ladder(text: str) -> tuple[tuple[float, float], ...]:
    """ "W/B,W/B,..." (guidance W > 0, keep bonus B >= 0 per rung) -> rungs; a ConfigError names a
    bad rung."""
    rungs = []
    for item in (part.strip() for part in text.split(",")):
        pieces = item.split("/")
        try:
            w, b = (float(p) for p in pieces) if len(pieces) == 2 else (math.nan, math.nan)
        except ValueError:
            w = b = math.nan
        if not (w > 0 and math.isfinite(w) and b >= 0 and math.isfinite(b)):
            raise ConfigError(
                f"--search rung {item!r}: expected GUIDANCE/KEEP with guidance > 0 and keep >= 0, "
                "e.g. --search 1.5/3,2/1,3/0"
            )
        rungs.append((w, b))
    return tuple(rungs)


def check_margin(margin: float) -> float:
    if math.isnan(margin):
        raise ConfigError(f"--margin {margin}: expected a number of nats (e.g. {DEFAULT_MARGIN:g})")
    return margin


def check_keep_mode(mode: str) -> str:
    if mode not in KEEP_MODES:
        raise ConfigError(f"--keep-mode {mode!r}: expected one of {', '.join(KEEP_MODES)}")
    return mode
