"""Property sweeps: scripted grids of targets, generated, measured and summarised on disk."""

from seqcvae.sweep.plan import SweepPlan, plan_sweep
from seqcvae.sweep.runner import run_sweep
from seqcvae.sweep.spec import SweepSpec, load_spec, parse_values

__all__ = ["SweepPlan", "SweepSpec", "load_spec", "parse_values", "plan_sweep", "run_sweep"]
