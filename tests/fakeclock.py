"""A deterministic step clock for training tests, in process or as `python -m tests.fakeclock`.

The trainer times each step with `seqcvae.training.trainer.step_clock()`, called once before and
once after the step. FakeClock replaces it so that step k (0-based, counted in this process) lasts
`seconds(k)`: the time budget, its conversion to a step count and the wall-clock stop then run their
real code paths, with times that do not depend on the machine's load. With `interrupt_before=N`
the clock raises KeyboardInterrupt (as Ctrl-C would) when step N of this process is about to start.

    python -m tests.fakeclock STEP_SECONDS INTERRUPT_BEFORE|never seqcvae-arguments...

(status 0 after the planned interrupt, so that torchrun lets every process finish its checkpoint).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class FakeClock:
    def __init__(self, seconds: Callable[[int], float] | float, interrupt_before: int | None = None):
        self.seconds = seconds if callable(seconds) else (lambda _k, s=float(seconds): s)
        self.interrupt_before = interrupt_before
        self.calls = 0
        self.now = 0.0

    def __call__(self) -> float:
        step, after = divmod(self.calls, 2)
        if not after and step == self.interrupt_before:
            raise KeyboardInterrupt
        self.calls += 1
        if after:
            self.now += self.seconds(step)
        return self.now


def install(clock: FakeClock, monkeypatch: object | None = None) -> FakeClock:
    """Make the trainer use `clock` (through pytest's monkeypatch when given)."""
    import seqcvae.training.trainer as trainer

    if monkeypatch is not None:
        monkeypatch.setattr(trainer, "step_clock", clock)  # type: ignore[attr-defined]
    else:
        trainer.step_clock = clock  # type: ignore[assignment]
    return clock


def _main(argv: list[str]) -> int:
    interrupt = None if argv[1] == "never" else int(argv[1])
    install(FakeClock(float(argv[0]), interrupt))
    from seqcvae.cli import main

    rc = main(argv[2:])
    return 0 if rc == 130 and interrupt is not None else rc


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
