"""SentencePiece tokenizer (unigram, BPE or word) trained by seqcvae and stored inside checkpoints.

Special ids match the SMILES tokenizer: pad=0, bos=1, eos=2, unk=3. Models trained since
TOKENIZER_VERSION 2 name those pieces <seqcvae:pad> ... <seqcvae:unk>, so that a corpus's own
"<unk>" or "<eos>" is ordinary text: SentencePiece reserves its special pieces' names, and under
the names <pad> ... <unk> each of PTB's 45,000 "<unk>" (5% of its words) cost 6 byte pieces.
Normalisation is the identity, extra whitespace is kept and unseen characters fall back to UTF-8
bytes, so decode(encode(text)) returns the text exactly, NUL characters excepted: decode drops
them (a model can emit the <0x00> byte piece, and no CSV row can hold NUL portably; Python
3.10's csv writer refuses it).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from typing import Any

import sentencepiece as spm

from seqcvae.tokenizers.base import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, content_ids

WORD_MARK = "\u2581"  # SentencePiece's mark of a piece that starts a word
# What a new model's training settings are; part of the data cache's key for its tokenizer.
TOKENIZER_VERSION = 2
RESERVED_PIECES = tuple(f"<seqcvae:{name.strip('<>')}>" for name in SPECIAL_TOKENS)


class SentencePieceTokenizer:
    kind = "sentencepiece"

    def __init__(self, model_proto: bytes):
        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        ids = (self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id(), self.sp.unk_id())
        if ids != (PAD, BOS, EOS, UNK):
            raise ValueError(f"SentencePiece model has special ids {ids}, expected (0, 1, 2, 3)")

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int = 4000, model_type: str = "unigram"
    ) -> SentencePieceTokenizer:
        """Train on an iterable of sentences (deterministic: one thread, fixed settings).

        model_type "word" makes each whitespace-separated word one piece (the vocab_size most
        frequent words; rarer ones fall back to bytes), as word-level language models count.
        The vocabulary always holds the 4 specials, the 256 byte-fallback pieces and every
        character of the corpus, so vocab_size is raised to that floor when set lower.
        """
        texts = list(texts)
        if not texts:
            raise ValueError("cannot train a SentencePiece model on no text")
        floor = len(SPECIAL_TOKENS) + 256 + len(set("".join(texts))) + 1
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=buf,
            vocab_size=max(vocab_size, floor),
            model_type=model_type,
            pad_id=PAD,
            bos_id=BOS,
            eos_id=EOS,
            unk_id=UNK,
            pad_piece=RESERVED_PIECES[PAD],
            bos_piece=RESERVED_PIECES[BOS],
            eos_piece=RESERVED_PIECES[EOS],
            unk_piece=RESERVED_PIECES[UNK],
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            byte_fallback=True,
            character_coverage=1.0,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
        )
        return cls(buf.getvalue())

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text, out_type=int))

    def decode(self, ids: Sequence[int]) -> str:
        content = content_ids(ids)
        text = str(self.sp.decode(content)).replace("\x00", "")
        if WORD_MARK in text:
            # Only a word spelled in byte pieces (a word model's unknown words) decodes to the word
            # mark itself; SentencePiece drops the mark of the first word only from a piece.
            if content and self.sp.is_byte(content[0]) and text.startswith(WORD_MARK):
                text = text[1:]
            text = text.replace(WORD_MARK, " ")
        return text

    def pieces(self, text: str) -> list[str]:
        return list(self.sp.encode(text, out_type=str))

    tokens = pieces

    def joins(self, ids: Sequence[int]) -> list[bool]:
        """Per id, whether its piece continues the word of the piece before it: a piece that
        does not start with the word boundary mark (U+2581) and follows another piece (byte
        pieces and control ids are never joined)."""
        out = []
        for k, i in enumerate(int(i) for i in ids):
            plain = not (self.sp.is_byte(i) or self.sp.is_control(i) or self.sp.is_unknown(i))
            out.append(k > 0 and plain and not self.sp.id_to_piece(i).startswith(WORD_MARK))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentencePieceTokenizer:
        return cls(base64.b64decode(data["model"]))
