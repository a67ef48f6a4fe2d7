"""CLIP's byte-level BPE tokenizer, built from the original merges file shipped in `resources/`.

Token for token the same as openai/CLIP: the same text cleaning (ftfy, HTML unescaping, whitespace, lower
case), the same pre-tokenising pattern and the same merges.
"""

from __future__ import annotations

import functools
import gzip
import html
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import regex

from ..paths import resources_dir
from .errors import TextTooLongError

if TYPE_CHECKING:
    import torch

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 48_894  # merges used: lines 1..48,894 of the file (line 0 is a version header)
START_OF_TEXT = "<|startoftext|>"
END_OF_TEXT = "<|endoftext|>"
WORD_END = "</w>"
CONTEXT_LENGTH = 77
BPE_CACHE_SIZE = 100_000  # distinct words remembered; a photo library's queries reuse few

# Words are letters, single digits, runs of other non-space characters, and English contractions.
_WORD_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_WHITESPACE = regex.compile(r"\s+")
# Text that ftfy leaves as it is, whitespace aside (which cleaning collapses anyway): printable ASCII without "&".
# ftfy mends what only other characters can hold (mojibake, curly quotes, ligatures, wide forms), control and
# terminal codes, and HTML entities ("&amp;"); importing it costs 60 ms of a search that is otherwise ~0.5 s.
_PLAIN_TEXT = regex.compile(r"[\t\n\r\x20-\x25\x27-\x7e]*")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters (no whitespace or controls)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {byte: chr(byte) for byte in printable}
    spare = 0
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(256 + spare)
            spare += 1
    return mapping


def _fix_text(text: str) -> str:
    import ftfy

    return ftfy.fix_text(text)


def clean_text(text: str) -> str:
    if not _PLAIN_TEXT.fullmatch(text):
        text = _fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class Tokenizer:
    def __init__(self, vocab_path: Path):
        with gzip.open(vocab_path, "rt", encoding="utf-8") as file:
            # Only the first MERGE_COUNT of the file's 262,000 merges are used: read no further (app start-up).
            lines = list(itertools.islice(file, 1, MERGE_COUNT + 1))
        merges = [tuple(line.split()) for line in lines]
        self.byte_encoder = bytes_to_unicode()
        base = list(self.byte_encoder.values())
        vocab = base + [char + WORD_END for char in base] + ["".join(pair) for pair in merges]
        vocab += [START_OF_TEXT, END_OF_TEXT]
        self.encoder = dict(zip(vocab, range(len(vocab)), strict=True))
        self.merge_ranks = dict(zip(merges, range(len(merges)), strict=True))
        self.sot_token = self.encoder[START_OF_TEXT]
        self.eot_token = self.encoder[END_OF_TEXT]
        self._bpe = functools.lru_cache(maxsize=BPE_CACHE_SIZE)(self._merge_word)

    @functools.cached_property
    def decoder(self) -> dict[int, str]:
        return {index: token for token, index in self.encoder.items()}

    @functools.cached_property
    def byte_decoder(self) -> dict[str, int]:
        return {char: byte for byte, char in self.byte_encoder.items()}

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def _merge_word(self, word: str) -> tuple[str, ...]:
        """Apply the merges to one word (already byte-mapped), lowest rank first, until none applies."""
        if word in (START_OF_TEXT, END_OF_TEXT):
            return (word,)
        parts = list(word[:-1]) + [word[-1] + WORD_END]
        while len(parts) > 1:
            rank, position = min((self.merge_ranks.get(pair, MERGE_COUNT), index)
                                 for index, pair in enumerate(zip(parts, parts[1:], strict=False)))
            if rank == MERGE_COUNT:  # no pair left that the merges know
                break
            first, second = parts[position], parts[position + 1]
            merged, index = [], 0
            # Merge every occurrence of the pair, left to right, without overlapping.
            while index < len(parts):
                if index < len(parts) - 1 and parts[index] == first and parts[index + 1] == second:
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(parts[index])
                    index += 1
            parts = merged
        return tuple(parts)

    def encode(self, text: str) -> list[int]:
        tokens: list[int] = []
        for word in _WORD_PATTERN.findall(clean_text(text)):
            mapped = "".join(self.byte_encoder[byte] for byte in word.encode("utf-8"))
            tokens.extend(self.encoder[part] for part in self._bpe(mapped))
        return tokens

    def decode(self, tokens: Iterable[int]) -> str:
        text = "".join(self.decoder[int(token)] for token in tokens)
        data = bytearray(self.byte_decoder[char] for char in text)
        return data.decode("utf-8", errors="replace").replace(WORD_END, " ")

    def token_ids(self, texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH,
                  truncate: bool = False) -> np.ndarray:
        """Texts -> [N, context_length] token ids (int32, zero padded), each framed by start and end tokens."""
        if isinstance(texts, str):
            texts = [texts]
        result = np.zeros((len(texts), context_length), np.int32)
        for row, text in enumerate(texts):
            tokens = [self.sot_token, *self.encode(text), self.eot_token]
            if len(tokens) > context_length:
                if not truncate:
                    raise TextTooLongError(
                        f"text is {len(tokens)} tokens long, over the context length {context_length}: "
                        f"{text[:60]!r}{'…' if len(text) > 60 else ''}"
                    )
                tokens = tokens[:context_length]
                tokens[-1] = self.eot_token
            result[row, :len(tokens)] = tokens
        return result

    def tokenize(self, texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH,
                 truncate: bool = False) -> torch.Tensor:
        """`token_ids` as a torch tensor, for the model."""
        import torch

        return torch.from_numpy(self.token_ids(texts, context_length, truncate))


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The shared tokenizer, built on first use (reading the merges takes a fraction of a second)."""
    return Tokenizer(resources_dir() / VOCAB_FILE)


def tokenize(texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH, truncate: bool = False) -> torch.Tensor:
    return default_tokenizer().tokenize(texts, context_length, truncate)


def token_ids(texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH, truncate: bool = False) -> np.ndarray:
    """`tokenize` without torch: a numpy array, for the numpy text tower."""
    return default_tokenizer().token_ids(texts, context_length, truncate)
