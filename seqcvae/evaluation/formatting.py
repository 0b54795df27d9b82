"""How `seqcvae evaluate` reports read as text: the sampling protocol in words and the report's
lines (the numbers themselves come from seqcvae.evaluation.report)."""

from __future__ import annotations

from typing import Any


def sampling_label(protocol: dict[str, Any]) -> str:
    """ "T=0.8, top-p=0.95" (what changes the samples; plain sampling at T=1 is "T=1")."""
    guidance = protocol.get("guidance", 1.0)
    suffix = f", guidance={guidance:g}" if guidance != 1 else ""
    suffix += ", SMILES grammar mask" if protocol.get("grammar") else ""
    tau = protocol.get("latent_temperature", 1.0)
    suffix += f", latent temperature {tau:g}" if tau != 1 else ""
    if protocol["strategy"] == "greedy":
        return "greedy" + suffix
    if protocol["strategy"] == "beam":
        return f"beam search, {protocol['beam_size']} beams" + suffix
    parts = [f"T={protocol['temperature']:g}"]
    if protocol["top_k"]:
        parts.append(f"top-k={protocol['top_k']}")
    if protocol["top_p"] < 1:
        parts.append(f"top-p={protocol['top_p']:g}")
    return ", ".join(parts) + suffix


def protocol_label(protocol: dict[str, Any]) -> str:
    """One line saying how the samples were drawn and whether MOSES tables compare with them."""
    if protocol["name"] == "moses":
        label = f"MOSES protocol (unconditional, T=1, {protocol['n']} samples, test: {protocol['test']}"
        sf = protocol.get("test_scaffolds")
        return label + (f", test scaffolds: {sf})" if sf else "; no scaffold test split given)")
    return (
        f"conditional samples under held-out conditions ({sampling_label(protocol)}, N={protocol['n']}); "
        "not comparable with MOSES tables (those use `--protocol moses`)"
    )


def format_moses(metrics: dict[str, float], title: str = "MOSES metrics:") -> list[str]:
    """The MOSES metrics as a two-column table."""
    lines = [title]
    for k, v in metrics.items():
        lines.append(f"  {k:<14} {v:10.4f}")
    return lines


def format_report(report: dict[str, Any]) -> str:
    if report.get("kind") == "smiles_file":
        refs = ", ".join(f"{k}={v}" for k, v in report["references"].items()) or "none"
        return "\n".join(
            [f"{report['smiles']}: references {refs}; train {report['train'] or 'none'}"]
            + format_moses(report["moses"])
            + [f"({report['seconds']} s)"]
        )
    d = report["diagnostics"]
    lines = [
        f"held-out: {report['held_out']} ({int(d['sequences'])} sequences)",
        f"-ELBO {d['nelbo']:.3f}  rec {d['rec']:.3f}  KL {d['kl']:.3f}  nats/sequence",
        f"IW-NLL {d['iw_nll']:.3f} (k={int(d['k'])})  PPL {d['ppl']:.2f} per token"
        + (f", {d['ppl_word']:.2f} per word" if "ppl_word" in d else ""),
        f"active units {int(d['active_units'])}/{int(d['latent_dim'])}  "
        f"mutual information {d['mutual_info']:.3f}  "
        f"reconstruction accuracy {d.get('recon_accuracy', float('nan')):.3f}",
    ]
    s = report.get("samples")
    if s and report["kind"] == "text":
        lines.append(
            f"samples {s['samples']}: distinct-1 {s['distinct_1']:.3f}  distinct-2 "
            f"{s['distinct_2']:.3f}  self-BLEU {s['self_bleu']:.1f}"
        )
        lines.append(
            "style accuracy of samples: " + ", ".join(f"{k} {v:.3f}" for k, v in s["style_accuracy"].items())
        )
        lines.append(
            "classifier accuracy on held-out text: "
            + ", ".join(f"{k} {v:.3f}" for k, v in s["classifier_accuracy_on_held_out"].items())
        )
        if "transfer" in s:
            t = s["transfer"]
            lines.append(
                f"transfer ({t['field']}, {t['sentences']} sentences): accuracy "
                f"{t['accuracy']:.3f}  BLEU to input {t['bleu_to_input']:.1f}  "
                f"unchanged {t['unchanged_fraction']:.3f}"
            )
    elif s:
        protocol = s.get("protocol")
        if protocol:
            lines.append(protocol_label(protocol))
        lines.append(
            f"samples {int(s['generated'])}: validity {s['validity']:.3f}  uniqueness "
            f"{s['uniqueness']:.3f}  novelty {s['novelty']:.3f}"
        )
        for name, p in s.get("properties", {}).items():
            lines.append(f"  {p.get('label', name)}: MAE {p['mae']:.3f}  Spearman {p['spearman']:.3f}")
        lines.extend(f"  note: {note}" for note in s.get("notes", []))
        if "moses" in s:
            refs = ", ".join(f"{k}={v}" for k, v in (protocol or {}).get("references", {}).items())
            novelty = (protocol or {}).get("novelty_against") or "no training set"
            lines.extend(format_moses(s["moses"], f"MOSES metrics (references: {refs}; novelty: {novelty}):"))
    lines.append(f"({report['seconds']} s)")
    return "\n".join(lines)
