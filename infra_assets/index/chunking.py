"""Token-bounded chunks of a document, with IDs derived from content.

A chunk is measured in the embedding model's own tokens: the text that is embedded (the page
title as a short header, then the chunk) never exceeds the model's limit, so nothing is silently
truncated by the model. Boundaries fall on paragraphs, then sentences, then tokens.

Boundaries are content-defined as well as size-bounded: a chunk also ends after a paragraph whose
hash says so (once the chunk is half full). An edit near the top of a long page therefore moves
only the boundaries up to the next such anchor, and the later chunks keep their text, their IDs
and their vectors. Point IDs come from (source, URL, chunk text, occurrence), never a counter.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache

from tokenizers import Tokenizer

from .embedding import DEFAULT_MODEL, PACKAGED_MODEL_DIR, PACKAGED_MODEL_NAME, get_embedder

# A fixed namespace: the same (source, url, chunk) gets the same point ID on every machine.
POINT_NAMESPACE = uuid.UUID("5b0f3c7e-0d6a-4f5e-9a53-3c1d2b8e7a10")
SPECIAL_TOKENS = 2  # [CLS] ... [SEP]
TITLE_TOKENS = 24  # header budget; long titles are cut so the passage keeps its room
ANCHOR_MODULUS = 4  # ~1 paragraph in 4 may end a chunk early, once it is half full
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str  # the passage shown to users
    embed_text: str  # what the model embeds: "title\npassage"
    n_tokens: int  # tokens of embed_text including special tokens
    hash: str  # of embed_text: a change re-embeds, no change skips
    page: int | None = None  # the page (or slide) of a paged document, from 1; None for a web page


def point_id(source: str, url: str, chunk_hash: str, occurrence: int = 0) -> str:
    """A stable UUID for a chunk: identical across runs and machines."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{source}\x1f{url}\x1f{chunk_hash}\x1f{occurrence}"))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=4)
def tokenizer_for(model: str = DEFAULT_MODEL) -> Tokenizer:
    """The model's tokenizer with truncation and padding off, for counting tokens."""
    if model in (DEFAULT_MODEL, PACKAGED_MODEL_NAME):
        tok = Tokenizer.from_file(str(PACKAGED_MODEL_DIR / "tokenizer.json"))
    else:
        own = get_embedder(model).tokenizer()
        if own is None:
            raise ValueError(f"model {model!r} exposes no tokenizer to count chunk tokens with")
        tok = Tokenizer.from_str(own.to_str())
    # tokenizer.json truncates at 128 by itself; counting must see every token.
    tok.no_truncation()
    tok.no_padding()
    return tok


class Chunker:
    """Splits (title, text) into chunks of at most `max_tokens` model tokens."""

    def __init__(self, tokenizer: Tokenizer, max_tokens: int = 256):
        if max_tokens < 32:
            raise ValueError("max_tokens must be at least 32")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _header(self, title: str | None) -> str:
        title = " ".join((title or "").split())
        if not title:
            return ""
        enc = self.tokenizer.encode(title, add_special_tokens=False)
        if len(enc.ids) > TITLE_TOKENS:
            title = title[: enc.offsets[TITLE_TOKENS - 1][1]]
        return title

    def chunk(self, title: str | None, text: str) -> list[Chunk]:
        """The chunks of a document; a paged document's text ends each page with a form feed
        (`clean.table.PAGE_BREAK`), and no chunk spans two pages."""
        if not text.endswith("\f"):
            return self._chunk(title, text, None, 0)
        chunks: list[Chunk] = []
        for number, page in enumerate(text.split("\f")[:-1], start=1):
            chunks.extend(self._chunk(title, page, number, len(chunks)))
        return chunks

    def _chunk(self, title: str | None, text: str, page: int | None, first: int) -> list[Chunk]:
        header = self._header(title)
        header_tokens = self.count(header) if header else 0
        budget = self.max_tokens - SPECIAL_TOKENS - header_tokens
        units = self._units(text, budget)
        chunks: list[Chunk] = []
        current: list[str] = []
        used = 0

        def close() -> None:
            nonlocal current, used
            # Units split at whitespace, so their token counts add up exactly (the property tests
            # check this against a full re-encoding); no second pass over the text is needed.
            chunks.append(self._make(first + len(chunks), header, current, SPECIAL_TOKENS + header_tokens + used, page))
            current, used = [], 0

        for unit, n, anchor in units:
            if current and used + n > budget:
                close()
            current.append(unit)
            used += n
            if anchor and used * 2 >= budget:
                close()
        if current:
            close()
        return chunks

    def _make(self, position: int, header: str, parts: list[str], n_tokens: int, page: int | None) -> Chunk:
        body = "\n".join(parts)
        embed_text = f"{header}\n{body}" if header else body
        return Chunk(position, body, embed_text, n_tokens, text_hash(embed_text), page)

    def _units(self, text: str, budget: int) -> list[tuple[str, int, bool]]:
        """Paragraphs (split further when too long) with their token counts and anchor flags."""
        paragraphs = [" ".join(p.split()) for p in text.splitlines()]
        paragraphs = [p for p in paragraphs if p]
        if not paragraphs:
            return []
        counts = [len(e.ids) for e in self.tokenizer.encode_batch(paragraphs, add_special_tokens=False)]
        units: list[tuple[str, int, bool]] = []
        for para, n in zip(paragraphs, counts):
            anchor = int(text_hash(para)[:8], 16) % ANCHOR_MODULUS == 0
            if n <= budget:
                units.append((para, n, anchor))
                continue
            pieces = self._split_long(para, budget)
            units.extend((piece, k, False) for piece, k in pieces[:-1])
            units.append((pieces[-1][0], pieces[-1][1], anchor))
        return units

    def _split_long(self, para: str, budget: int) -> list[tuple[str, int]]:
        sentences = [s for s in _SENTENCE_END.split(para) if s]
        out: list[tuple[str, int]] = []
        for sentence in sentences:
            enc = self.tokenizer.encode(sentence, add_special_tokens=False)
            if len(enc.ids) <= budget:
                out.append((sentence, len(enc.ids)))
                continue
            # A "sentence" longer than the budget (tables, code, run-on text): cut at token
            # boundaries, then back off to the last space so words stay whole.
            start = 0
            offsets = enc.offsets
            i = 0
            # Slack: a re-encoded piece may count a token or two more than it was cut from.
            window = budget - 8 if budget > 16 else max(1, budget // 2)
            while i < len(offsets):
                j = min(i + window, len(offsets))
                while True:
                    # The last piece runs to the end of the sentence: characters the tokenizer
                    # ignores (control characters) after the last token are text too.
                    end = len(sentence) if j == len(offsets) else offsets[j][0]
                    piece = sentence[start:end]
                    if j < len(offsets):
                        space = piece.rfind(" ")
                        if space > len(piece) // 2:
                            end = start + space
                            piece = sentence[start:end]
                    n = self.count(piece.strip())
                    if n <= budget or j - i <= 1:
                        break
                    j -= 1  # past the slack (small budgets, odd text): cut a token earlier
                piece = piece.strip()
                if piece:
                    out.append((piece, n))
                start = end
                while i < len(offsets) and offsets[i][0] < end:
                    i += 1
        return out


@lru_cache(maxsize=4)
def chunker_for(model: str = DEFAULT_MODEL, max_tokens: int = 256) -> Chunker:
    return Chunker(tokenizer_for(model), max_tokens)
