"""SMILES syntax at decoding time: mask the tokens that would make a SMILES string unparseable.

A sequence model's invalid SMILES are of two kinds: syntax (a branch or ring closure left open, a
bond with nothing after it, an empty branch) and chemistry (valence, aromatic rings that cannot be
kekulised). The first kind can be ruled out token by token, as grammar-based VAEs do by
construction: `SmilesSyntax` tracks, per row, the open branches, the open ring-closure labels and
what the last token was, and allows only the tokens a SMILES string may continue with. The model's
distribution is renormalised over the allowed tokens (sampling) or searched among them (greedy);
nothing is masked that a parseable string could have next, except ring closures RDKit refuses: on
the atom that opened the ring (``C11``, ``C1(C)1``) or between two atoms already bonded
(``C1C1``, ``C(C1)1``). Where the model would end a string that is not
complete (an open ring or branch), only the tokens that close what is open are allowed, so the
string ends as soon as it can rather than running on. Chemistry is left to the model, but for
one check at the end of the string (`end_check`): an end is refused where one more atom on the
last atom would turn an invalid molecule into a valid one (``c1cccn1`` -> ``c1cccn1C``).

States (what the last token was): START (nothing yet), ATOM (an atom, a ring label or ``)``, after
which the same tokens may follow), OPEN (``(``), BOND_RING (a bond after an atom: an atom or a ring
label follows), BOND (a bond after ``(``: an atom follows), DOT (``.``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqcvae.generation.end_check import EndCheck
from seqcvae.tokenizers.base import EOS

START, ATOM, OPEN, BOND_RING, BOND, DOT = range(6)
_STATES = 6

BONDS = frozenset({"-", "=", "#", ":", "/", "\\", "$"})
ORGANIC = frozenset({"B", "C", "N", "O", "P", "S", "F", "I", "Cl", "Br", "b", "c", "n", "o", "p", "s", "*"})


def token_class(token: str) -> str:
    """atom, ring, bond, open, close, dot, or other (a token a SMILES string never holds outside
    brackets: control tokens, stray charges or chirality marks)."""
    if token in ORGANIC or (len(token) > 2 and token.startswith("[") and token.endswith("]")):
        return "atom"
    if token.isdigit() and len(token) == 1 or (len(token) == 3 and token[0] == "%" and token[1:].isdigit()):
        return "ring"
    if token in BONDS:
        return "bond"
    return {"(": "open", ")": "close", ".": "dot"}.get(token, "other")


class SmilesSyntax:
    """Per-row SMILES syntax state for a batch being decoded over the vocabulary `tokens`.

    `allowed()` gives the (rows, V) mask of tokens each row may take next; `advance(token)` moves
    every row past its chosen token; `reorder(index)` keeps rows `index` (finished rows dropped,
    beams followed), like the decoder's state.
    """

    def __init__(
        self, tokens: Sequence[str], rows: int, device: torch.device | str = "cpu", end_check: bool = True
    ):
        classes = [token_class(t) for t in tokens]
        v = len(tokens)
        self.device = torch.device(device)

        def mask_of(*names: str) -> torch.Tensor:
            return torch.tensor([c in names for c in classes], dtype=torch.bool, device=self.device)

        self.is_atom, self.is_ring = mask_of("atom"), mask_of("ring")
        self.is_bond, self.is_dot = mask_of("bond"), mask_of("dot")
        self.is_open, self.is_close = mask_of("open"), mask_of("close")
        ring_ids = [i for i, c in enumerate(classes) if c == "ring"]
        self.ring_slot = torch.full((v,), -1, dtype=torch.long, device=self.device)
        self.ring_slot[ring_ids] = torch.arange(len(ring_ids), device=self.device)
        table = torch.zeros(_STATES, v, dtype=torch.bool, device=self.device)
        table[START] = self.is_atom
        table[ATOM] = self.is_atom | self.is_ring | self.is_bond | self.is_open | self.is_close | self.is_dot
        table[ATOM, EOS] = True
        table[OPEN] = self.is_atom | self.is_bond
        table[BOND_RING] = self.is_atom | self.is_ring
        table[BOND] = self.is_atom
        table[DOT] = self.is_atom
        self.table = table
        self.state = torch.full((rows,), START, dtype=torch.long, device=self.device)
        self.depth = torch.zeros(rows, dtype=torch.long, device=self.device)
        self.rings = torch.zeros(rows, max(len(ring_ids), 1), dtype=torch.bool, device=self.device)
        # Atoms by index: the one ring labels and branches attach to now, the atom it was bonded
        # to when it appeared (its parent; -1 for none), and each open ring's opener and the
        # opener's parent. A ring may not close where it would bond two atoms already bonded.
        self.atoms = torch.zeros(rows, dtype=torch.long, device=self.device)
        self.current = torch.full((rows,), -1, dtype=torch.long, device=self.device)
        self.parent = torch.full((rows,), -1, dtype=torch.long, device=self.device)
        self.opener = torch.full(self.rings.shape, -1, dtype=torch.long, device=self.device)
        self.opener_parent = torch.full(self.rings.shape, -1, dtype=torch.long, device=self.device)
        # (current, parent) at each open branch, restored by its ``)``; widened as branches nest
        self.stack = torch.full((rows, 8, 2), -1, dtype=torch.long, device=self.device)
        self.end_check = EndCheck(tokens, rows) if end_check else None

    def allowed(self, ending: torch.Tensor | None = None) -> torch.Tensor:
        """(rows, V) bool: the tokens each row may take next. `ending` (rows, bool): rows whose
        model would end here; where the string is not complete, they may only close what is open
        (a ring label that is open, or ``)``), so the string ends as soon as it can. A row for
        which nothing would be allowed (a vocabulary without atoms) is left unconstrained."""
        mask = self.table[self.state].clone()
        mask[:, self.is_close] &= (self.depth > 0).unsqueeze(1)
        closed = (self.depth == 0) & ~self.rings.any(dim=1)
        mask[:, EOS] &= closed
        closable = self.closable()
        mask[:, self.is_ring] &= ~self.rings | closable
        if ending is not None:
            closing = ending & ~closed & (self.state == ATOM)
            if bool(closing.any()):
                closers = self.is_close.unsqueeze(0) & (self.depth > 0).unsqueeze(1)
                closers[:, self.is_ring] = closable
                closers &= mask
                closing &= closers.any(dim=1)  # else the string must go on: the mask stays
                mask[closing] = closers[closing]
        empty = ~mask.any(dim=1)
        if bool(empty.any()):
            mask[empty] = True
        return mask

    def closable(self) -> torch.Tensor:
        """(rows, R) bool: the open rings that may close on the current atom: not on their own
        opener (C11, C1(C)1) nor where the two atoms are already bonded (C1C1, C(C1)1)."""
        cur, par = self.current.unsqueeze(1), self.parent.unsqueeze(1)
        bonded = (self.opener == cur) | (self.opener == par) | (self.opener_parent == cur)
        return self.rings & ~bonded

    def refused(self, token: torch.Tensor, written: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
        """(rows,) bool: the `live` rows whose drawn `token` is an end of string that `EndCheck`
        refuses, given what each row has written so far (`written`, rows x steps; all False
        without the end check)."""
        out = torch.zeros(token.shape[0], dtype=torch.bool)
        if self.end_check is not None:
            for r in ((token == EOS) & live).nonzero().squeeze(1).tolist():
                out[r] = self.end_check.refuse(r, written[r].tolist())
        return out.to(self.device)

    def advance(self, token: torch.Tensor) -> None:
        """Move each row past its token (rows, long)."""
        atom, ring = self.is_atom[token], self.is_ring[token]
        bond, dot = self.is_bond[token], self.is_dot[token]
        opened, closed = self.is_open[token], self.is_close[token]
        after_atom = self.state == ATOM
        self._track_atoms(atom, opened, closed)
        state = self.state.clone()
        state[atom | ring | closed] = ATOM
        state[opened] = OPEN
        state[bond & after_atom] = BOND_RING
        state[bond & ~after_atom] = BOND
        state[dot] = DOT
        self.state = state
        self.depth = self.depth + opened.long() - closed.long()
        rows = ring.nonzero().squeeze(1)
        if len(rows):
            slots = self.ring_slot[token[rows]]
            opening = ~self.rings[rows, slots]
            self.rings[rows, slots] = opening
            self.opener[rows, slots] = torch.where(opening, self.current[rows], -1)
            self.opener_parent[rows, slots] = torch.where(opening, self.parent[rows], -1)

    def _track_atoms(self, atom: torch.Tensor, opened: torch.Tensor, closed: torch.Tensor) -> None:
        """Current atom and parent past an atom (after ``.`` it has no parent), ``(`` (saved) or
        ``)`` (restored); called before the state moves on."""
        self.parent = torch.where(atom, torch.where(self.state == DOT, -1, self.current), self.parent)
        self.current = torch.where(atom, self.atoms, self.current)
        self.atoms = self.atoms + atom.long()
        if bool(opened.any()):
            if int(self.depth.max()) >= self.stack.shape[1]:
                self.stack = torch.cat([self.stack, torch.full_like(self.stack, -1)], dim=1)
            rows = opened.nonzero().squeeze(1)
            self.stack[rows, self.depth[rows]] = torch.stack([self.current[rows], self.parent[rows]], dim=1)
        if bool(closed.any()):
            rows = closed.nonzero().squeeze(1)
            saved = self.stack[rows, self.depth[rows] - 1]
            self.current[rows], self.parent[rows] = saved[:, 0], saved[:, 1]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows `index`, in that order."""
        self.state, self.depth, self.rings = self.state[index], self.depth[index], self.rings[index]
        self.atoms, self.current, self.parent = self.atoms[index], self.current[index], self.parent[index]
        self.opener, self.opener_parent = self.opener[index], self.opener_parent[index]
        self.stack = self.stack[index]
        if self.end_check is not None:
            self.end_check.reorder(index.tolist())
