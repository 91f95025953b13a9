"""Pure text utilities: sentence splitting, sentence-level diffs, tag parsing, word counts.

Instructions are compared at the level of sentences: the learning rate bounds the number of
sentence edits per step and dropout freezes whole sentences, so both need a splitter that does
not break on decimals ("3.5"), abbreviations ("e.g.") or numbered lists ("1. Read ...").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

# Abbreviations after which a period usually does not end the sentence. A period after one of them
# still ends the sentence when the next word is a capitalized common word ("Answer yes or no. Then
# explain.", "etc. Be brief."); before a lowercase word, a digit or a name it never does ("5 ft. tall").
_ABBREVIATIONS = {
    "e.g", "i.e", "etc", "vs", "cf", "approx", "no", "fig", "eq", "al", "inc", "ltd", "jr", "sr", "st",
    "min", "max", "sec", "mins", "hrs", "hr", "ex", "ft", "in", "lb", "lbs", "oz", "km", "cm", "mm", "kg",
    "mg", "mi", "yd", "yr", "yrs", "pt", "qt", "gal", "pp", "pg", "est", "dept", "vol", "nos", "resp",
}
# Titles are always followed by a name: never a boundary ("Ask Dr. Who.").
_TITLES = {"dr", "mr", "mrs", "ms", "prof", "rev", "gen", "capt", "lt", "col", "sgt", "gov", "sen", "rep"}
# Common words that start a sentence of an instruction; after an abbreviation, one of them capitalized
# starts a new sentence.
_STARTERS = set("""
a an the this that these those it its there then next finally first second third also always never
only if when while after before for in on at to as so and but or otherwise each every all any no not
do don't be is are was use write give read check make keep return output list think solve start avoid
include explain note remember consider choose select find compute count identify provide state respond
reply show put ensure answer ask let try work look follow format add remove copy repeat stop end begin
you your we our they he she i what how why where which who whose new now here more most please instead
however given based using one two both either neither some many other such since because although though
unless until once with without from by of yes format reason determine evaluate analyze calculate track sort
verify compare apply assume treat rewrite summarize describe pick label mark place take move go see tell
name print prefer
""".split())
# Abbreviations that are also ordinary words: before ANY capitalized word their period ends the sentence
# ("Answer yes or no. New rule."); "No. 5" and "5 in. long" stay one sentence.
_WORDLIKE = {"no", "in", "nos", "min", "max", "sec", "ex", "pt", "est", "vol"}
# A candidate boundary: terminal punctuation (optionally closed by quotes/brackets), then space.
_BOUNDARY = re.compile(r"[.!?]+[\"')\]]*(?=\s+)")
_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+")


def _is_abbreviation(text: str, end: int) -> bool:
    """True when the period ending at ``end`` closes an abbreviation or an initial and the word after it
    does not start a new sentence."""
    start = end
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    token = text[start:end].rstrip(".").lower()
    if token in _TITLES:
        return True
    if token not in _ABBREVIATIONS and "." not in token:
        return False
    following = re.match(r"\s*[\"'(\[]*([A-Za-z']+)", text[end:])
    word = following.group(1) if following else ""
    return not (word[:1].isupper() and (token in _WORDLIKE or word.lower() in _STARTERS))


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


def sentence_changes(old: str, new: str) -> dict[str, int]:
    """How ``new`` differs from ``old`` sentence by sentence: ``{"added", "removed", "rewritten"}``
    counts (a replaced run of sentences counts as rewritten pairwise, the surplus as added or removed)."""
    a = [normalize(s) for s in split_sentences(old)]
    b = [normalize(s) for s in split_sentences(new)]
    counts = {"added": 0, "removed": 0, "rewritten": 0}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            paired = min(i2 - i1, j2 - j1)
            counts["rewritten"] += paired
            counts["removed"] += (i2 - i1) - paired
            counts["added"] += (j2 - j1) - paired
    return counts


def sentence_edits(old: str, new: str) -> int:
    """Minimum number of sentence-level edits (add, delete or modify one sentence) from old to new."""
    return sum(sentence_changes(old, new).values())


def clip_edits(old: str, new: str, k: int, protected: Iterable[str] = ()) -> str:
    """``new`` projected onto at most ``k`` sentence edits from ``old``: the first ``k`` edits of the
    sentence diff are applied in reading order, every later one is undone (the old sentence stays,
    an added sentence is dropped). ``sentence_edits(old, clip_edits(old, new, k)) <= k``.

    An edit that changes or removes a ``protected`` old sentence (one frozen by dropout) is always
    undone and uses none of the ``k`` edits, so that the result keeps every protected sentence.
    """
    a_text, b_text = split_sentences(old), split_sentences(new)
    a, b = [normalize(x) for x in a_text], [normalize(x) for x in b_text]
    keep = {normalize(s) for s in protected} - set(b)  # protected sentences the rewrite lost
    out: list[str] = []
    budget = k
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(b_text[j1:j2])
            continue
        for offset in range(max(i2 - i1, j2 - j1)):  # one edit per aligned pair (replace, insert or delete)
            old_i, new_j = i1 + offset, j1 + offset
            if old_i < i2 and a[old_i] in keep:
                out.append(a_text[old_i])
            elif budget > 0:
                budget -= 1
                if new_j < j2:
                    out.append(b_text[new_j])
            elif old_i < i2:
                out.append(a_text[old_i])
    return _join(old, new, out)


def restore_sentences(old: str, new: str, required: Iterable[str]) -> str:
    """``new`` with each ``required`` sentence of ``old`` that it lost put back where ``old`` had it
    (replacing the sentence that took its place, if any); every other edit is kept."""
    return clip_edits(old, new, len(split_sentences(old)) + len(split_sentences(new)), protected=required)


def _join(old: str, new: str, sentences: list[str]) -> str:
    """``sentences`` on one line when the texts were one line each and the line splits back into the same
    sentences (a sentence without a final period would swallow the next); else one per line."""
    parts = [x.strip() for x in sentences]
    if len(old.strip().splitlines()) <= 1 and len(new.strip().splitlines()) <= 1:
        line = " ".join(parts)
        if split_sentences(line) == parts:
            return line
    return "\n".join(parts)


def missing_sentences(required: list[str], text: str) -> list[str]:
    """The ``required`` sentences that do not come back verbatim (up to whitespace) in ``text``."""
    present = {normalize(s) for s in split_sentences(text)}
    return [s for s in required if normalize(s) not in present]


BLOCK_PROBLEMS = {
    "missing": "the reply had no <{tag}> tag at all; write the text, and nothing else, between <{tag}> and </{tag}>.",
    "unclosed": "the <{tag}> block was never closed (the reply was cut off); give the whole text, then </{tag}>.",
    "nested": "there was a <{tag}> block inside another one; give exactly one <{tag}> ... </{tag}> block.",
    "empty": "the text between <{tag}> and </{tag}> was empty.",
}


def parse_block(reply: str, tag: str) -> tuple[str | None, str]:
    """``(text, problem)`` of the ``<tag>...</tag>`` block in ``reply``.

    The last complete block is taken (a reply may show a draft first). ``problem`` is "" when the
    text is usable, else one of :data:`BLOCK_PROBLEMS` with text None: "missing" (no opening tag),
    "unclosed" (the last block opened never closes: the reply was cut off, e.g. by ``max_tokens``),
    "nested" (a block opened inside another; only ``<tag><tag>x</tag></tag>`` with nothing around
    the inner block is read as ``x``) or "empty". Stray closing tags are ignored.
    """
    blocks, start, depth, nested, unclosed = [], 0, 0, False, False
    for token in re.finditer(rf"<\s*(/?)\s*{re.escape(tag)}\s*>", reply, flags=re.IGNORECASE):
        if not token.group(1):
            depth += 1
            if depth == 1:
                start, nested = token.end(), False
            else:
                nested = True
        elif depth > 0:
            depth -= 1
            if depth == 0:
                blocks.append((reply[start:token.start()], nested))
    unclosed = depth > 0
    if not blocks and not unclosed:
        return None, "missing"
    if unclosed:
        return None, "nested" if depth > 1 or nested else "unclosed"
    text, was_nested = blocks[-1]
    if was_nested:
        inner = re.fullmatch(rf"\s*<\s*{re.escape(tag)}\s*>(.*)<\s*/\s*{re.escape(tag)}\s*>\s*", text,
                             flags=re.DOTALL | re.IGNORECASE)
        if inner is None or re.search(rf"<\s*/?\s*{re.escape(tag)}\s*>", inner.group(1), flags=re.IGNORECASE):
            return None, "nested"
        text = inner.group(1)
    text = text.strip()
    return (text, "") if text else (None, "empty")


def parse_tag(reply: str, tag: str) -> str | None:
    """Lenient reading of free text (a critique) in ``<tag>`` tags: the :func:`parse_block` text, or the
    text after an unclosed opening tag; None when absent, nested or empty. Instructions are read with
    :func:`parse_block`, which refuses a cut-off block."""
    text, problem = parse_block(reply, tag)
    if problem == "unclosed":
        opened = list(re.finditer(rf"<\s*{re.escape(tag)}\s*>", reply, flags=re.IGNORECASE))[-1]
        text = reply[opened.end():].strip() or None
    return text


def escape_tags(text: str, tags: Iterable[str]) -> str:
    """``text`` with every ``<tag>``/``</tag>`` of ``tags`` (any case or spacing, with attributes)
    neutralized as ``\u2039tag\u203a``, so that data embedded in a prompt cannot open or close the
    prompt's own tag blocks. Idempotent; other angle brackets are kept."""
    names = "|".join(re.escape(t) for t in sorted(set(tags), key=len, reverse=True))
    if not names:
        return str(text)
    pattern = re.compile(rf"<(\s*/?\s*(?:{names})\b[^<>]*)>", flags=re.IGNORECASE)
    return pattern.sub(lambda m: f"\u2039{m.group(1)}\u203a", str(text))


def word_count(text: str) -> int:
    """Number of whitespace-separated words."""
    return len(text.split())


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    text = str(text)
    return text if len(text) <= limit else text[: max(0, limit - 15)] + " ...[truncated]"


def trim_middle(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters by removing its MIDDLE: the beginning (premises,
    the first steps) and the end (the question, the conclusion) stay. Marks how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    marker = f" [...{len(text) - limit} characters cut...] "
    room = limit - len(marker) - 8  # the cut count may be written with more digits than estimated
    if room < 20:
        return truncate(text, limit) if limit >= 40 else text[:limit]
    head = room // 2
    tail = room - head
    marker = f" [...{len(text) - head - tail} characters cut...] "
    return text[:head] + marker + text[len(text) - tail:]


def numbered(sentences: list[str]) -> str:
    """Render sentences as ``[1] ...`` lines so prompts can refer to them by number."""
    return "\n".join(f"[{i}] {s}" for i, s in enumerate(sentences, start=1))
