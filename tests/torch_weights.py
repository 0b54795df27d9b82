"""Copy the weights of torch's own nn.GRU / nn.LSTM into our recurrent layers (tests only)."""

import torch


def copy_from_torch(layer: torch.nn.Module, ref: torch.nn.RNNBase, idx: int = 0) -> None:
    """Layer `idx` of ref into a GRULayer or LSTMLayer (the same weight layout)."""
    with torch.no_grad():
        layer.w_ih.weight.copy_(getattr(ref, f"weight_ih_l{idx}"))
        layer.w_hh.weight.copy_(getattr(ref, f"weight_hh_l{idx}"))
        layer.w_ih.bias.copy_(getattr(ref, f"bias_ih_l{idx}"))
        layer.w_hh.bias.copy_(getattr(ref, f"bias_hh_l{idx}"))
