"""Pure text utilities: sentence splitting, sentence-level diffs, tag parsing, word counts.

Instructions are compared at the level of sentences: the learning rate bounds the number of
sentence edits per step and dropout freezes whole sentences, so both need a splitter that does
not break on decimals ("3.5"), abbreviations ("e.g.") or numbered lists ("1. Read ...").
"""

from __future__ import annotations

import difflib
import re

_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "cf", "approx", "dr", "mr", "mrs", "ms", "prof", "st", "no",
    "fig", "eq", "al", "inc", "ltd", "jr", "sr", "min", "max", "sec", "mins", "hrs", "ex",
}
# A candidate boundary: terminal punctuation (optionally closed by quotes/brackets), then space.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s+)")
_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")


def _is_abbreviation(text: str, end: int) -> bool:
    """True when the period ending at ``end`` closes an abbreviation or an initial."""
    start = end
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    token = text[start:end].rstrip(".")
    return token.lower() in _ABBREVIATIONS or "." in token


def _split_line(line: str) -> list[str]:
    """Split one line of prose into sentences, keeping list markers with their item."""
    marker = _LIST_MARKER.match(line)
    offset = marker.end() if marker else 0
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(line, offset):
        end = match.end()
        if line[match.start()] == "." and _is_abbreviation(line, match.start() + 1):
            continue
        sentences.append(line[start:end].strip())
        start = end
    rest = line[start:].strip()
    if rest:
        sentences.append(rest)
    return [s for s in sentences if s]


def split_sentences(text: str) -> list[str]:
    """Split an instruction into sentences; each line (list item, heading) is its own unit."""
    sentences: list[str] = []
    for line in text.splitlines():
        if line.strip():
            sentences.extend(_split_line(line))
    return sentences


def normalize(text: str) -> str:
    """Whitespace- and case-insensitive form used to compare sentences and instructions."""
    return " ".join(text.split()).lower()


def sentence_edits(old: str, new: str) -> int:
    """Minimum number of sentence-level edits (add, delete or modify one sentence) from old to new."""
    a = [normalize(s) for s in split_sentences(old)]
    b = [normalize(s) for s in split_sentences(new)]
    edits = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            edits += max(i2 - i1, j2 - j1)
    return edits


def clip_edits(old: str, new: str, k: int) -> str:
    """``new`` projected onto at most ``k`` sentence edits from ``old``: the first ``k`` edits of the
    sentence diff are applied in reading order, every later one is undone (the old sentence stays,
    an added sentence is dropped). ``sentence_edits(old, clip_edits(old, new, k)) <= k``.
    """
    a_text, b_text = split_sentences(old), split_sentences(new)
    a, b = [normalize(x) for x in a_text], [normalize(x) for x in b_text]
    out: list[str] = []
    budget = k
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(b_text[j1:j2])
            continue
        for offset in range(max(i2 - i1, j2 - j1)):  # one edit per aligned pair (replace, insert or delete)
            if budget > 0:
                budget -= 1
                if j1 + offset < j2:
                    out.append(b_text[j1 + offset])
            elif i1 + offset < i2:
                out.append(a_text[i1 + offset])
    joiner = "\n" if "\n" in old.strip() or "\n" in new.strip() else " "
    return joiner.join(x.strip() for x in out)


def missing_sentences(required: list[str], text: str) -> list[str]:
    """The ``required`` sentences that do not come back verbatim (up to whitespace) in ``text``."""
    present = {normalize(s) for s in split_sentences(text)}
    return [s for s in required if normalize(s) not in present]


def parse_tag(reply: str, tag: str) -> str | None:
    """Content of the last ``<tag>...</tag>`` block in ``reply``, stripped; None when absent or empty."""
    matches = re.findall(rf"<{tag}>(.*?)</{tag}>", reply, flags=re.DOTALL | re.IGNORECASE)
    if not matches:
        opened = re.search(rf"<{tag}>(.*)$", reply, flags=re.DOTALL | re.IGNORECASE)
        matches = [opened.group(1)] if opened else []
    text = matches[-1].strip() if matches else ""
    return text or None


def word_count(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    text = str(text)
    return text if len(text) <= limit else text[: max(0, limit - 15)] + " ...[truncated]"


def numbered(sentences: list[str]) -> str:
    """Render sentences as ``[1] ...`` lines so prompts can refer to them by number."""
    return "\n".join(f"[{i}] {s}" for i, s in enumerate(sentences, start=1))
