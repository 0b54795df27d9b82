"""`seqcvae info`: describe a checkpoint (a summary for people, --json for programs)."""

from __future__ import annotations

import argparse
from typing import Any

from seqcvae.cli import common
from seqcvae.cli.common import Subparsers


def add_parser(sub: Subparsers) -> argparse.ArgumentParser:
    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("--checkpoint", required=True, help=common.CHECKPOINT_HELP)
    common.add_which_option(i)
    i.add_argument("--json", action="store_true", help="everything the checkpoint records, as JSON")
    return i


def run(args: argparse.Namespace) -> int:
    from seqcvae.recipes.info import checkpoint_info

    info = checkpoint_info(args.checkpoint, which=args.which)
    print(common.dumps(info) if args.json else "\n".join(summary_lines(info)))
    return 0


def _num(x: Any, digits: int = 3) -> str:
    return "?" if x is None else f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def summary_lines(info: dict[str, Any]) -> list[str]:
    """The checkpoint as a few labelled lines: what it was trained on, what it is, how it did."""
    m = info.get("model") or {}
    metrics = info.get("metrics") or {}
    lines = [f"checkpoint  {info['checkpoint']}"]
    minutes = info.get("train_seconds")
    tuning = info.get("tuning")
    trained = f"step {info.get('step')}" + (
        f", epoch {info['epoch']}" if info.get("epoch") is not None else ""
    )
    if minutes is not None:
        took = f"{minutes / 60:.1f} min" if minutes >= 60 else f"{minutes:.0f} s"
        trained += f", {took} of {'tuning' if tuning else 'training'}"
    lines.append(f"{'tuned' if tuning else 'trained':<11} {trained}")
    if tuning:
        tm = tuning.get("metrics") or {}
        extra = ""
        if tuning.get("unconditional_kl_weight") is not None:
            extra += f" ({_num(tuning['unconditional_kl_weight'])} unconditional)"
        if tuning.get("peak_nats"):
            extra += (
                f", peak penalty {_num(tuning.get('peak_weight'))} per nat above log p "
                f"-{_num(tuning['peak_nats'])}"
            )
        even = ""
        if tuning.get("even_fraction"):
            even = f", {tuning['even_fraction']:.0%} drawn evenly over one property's range"
        lines.append(
            f"            property-consistency tuning (lr {_num(tuning.get('lr'))}, KL weight "
            f"{_num(tuning.get('kl_weight'))}{extra}, targets: {tuning.get('target_rows')} molecules of "
            f"{tuning.get('targets')}{even}); last steps: reward {_num(tm.get('reward'))}, valid "
            f"{_num(tm.get('validity'))}, KL to its start {_num(tm.get('kl'))} nats"
        )
    started = info.get("init_from")
    prefix = "tuned       from" if tuning else "started     from"
    while started:  # a chain of fine-tunes, newest first
        lines.append(f"{prefix} {started.get('checkpoint')} (its step {started.get('step')})")
        started, prefix = started.get("from"), "            which started from"
    data = info.get("data") or {}
    where = data.get("train_path") or "?"
    if data.get("limit"):
        where += f" (a fixed subset of {data['limit']} rows)"
    lines.append(f"data        {info.get('kind')}: {where}")
    if data.get("summary"):
        lines.append(f"            {data['summary']}")
    enc = f"{m.get('encoder', '?')} encoder {m.get('encoder_hidden')} x{m.get('encoder_layers')}"
    dec = f"{m.get('decoder', '?')} decoder {m.get('decoder_hidden')} x{m.get('decoder_layers')}"
    output = []
    if m.get("output_cutoffs"):
        output.append(f"adaptive softmax, clusters from {', '.join(map(str, m['output_cutoffs']))}")
    if m.get("tie_embeddings"):
        output.append("output tied to the token embeddings")
    if output:
        dec += f" ({'; '.join(output)})"
    size = f"{info['parameters'] / 1e6:.2f}M parameters" if info.get("parameters") else ""
    lines.append(
        f"model       {enc} -> z {m.get('latent_dim')} ({m.get('prior')} prior) -> {dec}; "
        f"{info.get('vocabulary')} tokens; {size} ({info.get('precision')})"
    )
    conditions = info.get("conditions") or {}
    continuous = conditions.get("continuous") or []
    label = "conditions"
    for c in continuous:
        q = c.get("quantiles") or {}
        lines.append(
            f"{label:<11} {c['name']:<8} {c.get('source') or 'file':<5} trained on "
            f"{_num(q.get('p01'))} .. {_num(q.get('p99'))} (1st-99th percentile; "
            f"all {_num(c.get('minimum'))} .. {_num(c.get('maximum'))})"
        )
        label = ""
    label = "tags"
    for c in conditions.get("categorical") or []:
        lines.append(f"{label:<11} {c['name']}: {', '.join(c['values'][1:])}")
        label = ""
    if not continuous and not conditions.get("categorical"):
        lines.append("conditions  none")
    if metrics:
        lines.append(
            f"validation  -ELBO {_num(metrics.get('val_nelbo', metrics.get('val_elbo')), 4)} "
            f"(rec {_num(metrics.get('val_rec'))}, KL {_num(metrics.get('val_kl'))}), "
            f"IW-NLL {_num(metrics.get('val_iw_nll'), 4)}, active units "
            f"{_num(metrics.get('val_active_units'))}/{m.get('latent_dim')}, "
            f"reconstructed {_num(metrics.get('val_recon_accuracy'))}"
            + (
                f", valid {_num(metrics['val_validity'])} (prior samples at T 1)"
                if metrics.get("val_validity") is not None
                else ""
            )
        )
    s = info.get("sample") or {}
    lines.append(
        f"sampling    {s.get('strategy')}, T {s.get('temperature')}, top-p {s.get('top_p')}, "
        f"top-k {s.get('top_k') or 'off'}{', SMILES grammar' if s.get('grammar') else ''}, "
        f"up to {s.get('max_length')} tokens (the defaults of "
        "generate, transfer and sweep)"
    )
    return lines
