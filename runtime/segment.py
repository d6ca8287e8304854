"""Sentences in, pieces out: every input is split into sentences and each is translated on its own.

Rule (docs/decoding.md, section 1, where every table below is written out too): a small rule-based
sentence splitter whose rules are the data below, so the Java engine (``Segmenter.java``) can follow it
character for character. A sentence whose ids (with EOS) exceed the bundle's max source length is cut
into consecutive token chunks that fit, with a warning. No text is dropped; the outputs are joined in
order with one space.

The splitter prefers splitting when in doubt: a sentence cut in two still gets translated, while two
sentences in one piece are what a model trained on one-sentence captions drops half of.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# section 1.2: the tables of the splitter
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # str.splitlines() breaks at these
# ! ? . … ‼ ⁇ ⁈ ⁉ ؟ । ॥, and the CJK ones
TERMINATORS = frozenset(".!?\u2026\u203c\u2047\u2048\u2049\u061f\u0964\u0965\u3002\uff01\uff1f\uff61")
CJK_TERMINATORS = frozenset("\u3002\uff01\uff1f\uff61")  # 。！？｡ end a sentence with no space after them
# right after the terminators: closing quotes and brackets that still belong to the sentence
CLOSERS = frozenset(
    "\"')]}\u2019\u201d\u2018\u201c\u00bb\u00ab\u203a\u2039"
    "\u300d\u300f\uff09\u3011\u3009\u300b\u3015\uff3d\uff63\uff02\uff07"
)
SPACED_CLOSERS = frozenset("\u00bb\u203a")  # » › after a space (French « Oui. »)
# skipped before the first letter of the next sentence, and stripped from the word before a full stop
OPENERS = frozenset(
    "\"'([{\u201c\u2018\u201e\u201a\u00ab\u00bb\u2039\u203a\u00bf\u00a1"
    "\u300c\u300e\uff08\u3010\u3008\u300a\u3014\uff3b\uff62\uff02\uff07"
)


def _words(entries: str) -> frozenset[str]:
    return frozenset(entries.split(" "))


# words that a full stop follows without ending the sentence, per source language, as written
# (case matters: "No." is a number, "no." a word); the full stop itself is not part of the entry
ABBREVIATIONS: dict[str, frozenset[str]] = {
    "en": _words(
        "Mr Mrs Ms Mx Messrs Dr Prof Sr Jr St Mt Ft Gen Col Capt Lt Sgt Maj Cmdr Adm Rev Hon Gov Sen Rep "
        "Pres Supt Insp Univ Dept vs v e.g E.g i.e I.e cf Cf viz approx Approx ca No Nos Fig Figs "
        "Vol Vols vol vols Ch Chap ch Sec sec Sect p pp para Eq eq Feb Mar Apr Jun Jul Aug "
        "Sep Sept Oct Nov Dec al est ed eds"
    ),
    "de": _words(
        "Dr Prof Hr Hrn Fr Frl St Nr Nrn Bd Bde Abb Abs Anm Aufl Bsp bspw Bspw bzw Bzw ca Ca d.h D.h evtl "
        "Evtl ggf Ggf gem geb Hbf Hg Hrsg i.d.R inkl Inkl insb Insb Jh Jg Kap lt Lt Mio Mrd max min Min "
        "Sek Std sog Sog Str Tel Tsd u.a u.U u.Ä v.a vgl Vgl z.B Z.B z.T Ziff zzgl exkl o.ä Feb Apr "
        "Jun Jul Aug Sep Sept Okt Nov Dez a d i o s u v z"
    ),
    "fr": _words(
        "M MM Mme Mmes Mlle Mlles Me Mgr Dr Pr Prof St Ste Sts Stes p pp p.ex P.ex c.-à-d C.-à-d cf Cf env "
        "Env chap éd ex av apr janv févr avr juil oct nov déc bd boul fig Fig"
    ),
    "cs": _words(
        "např Např tj Tj tzn Tzn tzv Tzv resp Resp příp Příp popř Popř str č čs sv Sv Ing Mgr Bc Dr MUDr "
        "JUDr PhDr RNDr MVDr PaedDr doc Doc prof Prof p pí sl ul tel mj cca min odst písm r st "
        "stol mil mld kap tab viz Viz"
    ),
}
# languages that write ordinal numbers with a full stop ("1. května", "3. maj"): such a number is an
# ordinal when a lower-case word follows it
ORDINAL_LANGUAGES = _words("de cs sk pl da nb nn no fi hu sl hr sr bs is et lv tr")
# where nouns are capitalised ("am 3. Mai"), it is also one before a capitalised word, except the words that
# start a sentence but never follow an ordinal (articles, pronouns, conjunctions, prepositions): after
# "mit der Nummer 10." the sentence "Ein Mann ..." starts
ORDINAL_BREAKERS: dict[str, frozenset[str]] = {
    "de": _words(
        "Der Die Das Den Dem Des Ein Eine Einen Einem Einer Eines Kein Keine Er Sie Es Ich Du Wir Ihr Man "
        "Dies Diese Dieser Dieses Jeder Jede Jedes Alle Viele Mehrere Einige Zwei Drei Vier Fünf Dann Danach "
        "Da Dort Hier Heute Jetzt Nun So Aber Und Oder Doch Auch Noch Nur Im Am Auf In An Mit Bei Nach Vor "
        "Von Zu Zum Zur Aus Für Über Unter Wenn Als Weil Wie Was Wer Wo Warum"
    ),
}
MAX_ORDINAL_DIGITS = 3


@dataclass
class Segments:
    pieces: list[list[int]]  # source ids per piece, each ending in EOS
    warnings: list[str] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)  # each piece's text; None for a cut chunk


def language(code: str | None) -> str:
    """A manifest's language code as the tables key it: lower case, the primary subtag (``de-CH`` -> ``de``)."""
    return (code or "").lower().replace("_", "-").split("-")[0]


def _is_lower(ch: str) -> bool:
    return ch.upper() != ch  # a letter with an upper-case form (Python's full case mapping)


def _is_upper(ch: str) -> bool:
    return ch.casefold() != ch and ch.upper() == ch


def _word_before(text: str, i: int) -> str:
    """The non-space run that ends at ``i``, without the opening quotes and brackets it starts with."""
    b = i
    while b > 0 and not text[b - 1].isspace():
        b -= 1
    while b < i and text[b] in OPENERS:
        b += 1
    return text[b:i]


def _ends_sentence(text: str, i: int, j: int, k: int, lang: str) -> bool:
    """Section 1.3: does the terminator run ``text[i:j]`` (with its closers up to ``k``) end a sentence?"""
    n = len(text)
    if k >= n:
        return True
    if any(ch in CJK_TERMINATORS for ch in text[i:j]):
        return True
    if not text[k].isspace():
        return False  # "3.5", "e.g.,", "U.S.A", "Hi.There"
    m = k
    while m < n and text[m].isspace():
        m += 1
    if m >= n:
        return True
    p = m
    while p < n and text[p] in OPENERS:
        p += 1
    lower = p < n and _is_lower(text[p])
    run = text[i:j]
    bare_stop = run == "." and k == j  # one full stop, no closer after it
    word = _word_before(text, i) if bare_stop else ""
    ellipsis = "\u2026" in run or (len(run) > 1 and set(run) == {"."})
    if not word and bare_stop:
        if text[m] == ".":
            return False  # inside a spaced ellipsis ". . ."
        b = i
        while b > 0 and text[b - 1].isspace():
            b -= 1
        ellipsis = b > 0 and text[b - 1] == "."  # the last dot of ". . ."
    if lower and (ellipsis or k > j or "." in word):
        return False  # goes on in lower case: "Wait... what?", '"Stop!" she said', "at 5 p.m. on"
    if bare_stop:
        if word in ABBREVIATIONS.get(lang, frozenset()):
            return False
        if len(word) == 1 and _is_upper(word):
            return False  # an initial: "J. R. R. Tolkien", "M. Dupont"
        if (
            lang in ORDINAL_LANGUAGES
            and len(word) <= MAX_ORDINAL_DIGITS
            and all("0" <= c <= "9" for c in word)
        ):
            q = p
            while q < n and text[q].isalnum():
                q += 1
            if lower or (lang in ORDINAL_BREAKERS and text[p:q] not in ORDINAL_BREAKERS[lang]):
                return False  # an ordinal: "1. května", "am 3. Mai" (but "Nummer 10. Ein Mann")
    return True


def split_sentences(text: str, lang: str | None = None) -> list[str]:
    """Section 1.3: the sentences of ``text`` (a source language code picks the abbreviation list and
    the ordinal rule), each stripped of surrounding whitespace, none empty, in order."""
    lang = language(lang)
    out: list[str] = []
    n = len(text)
    start = i = 0
    while i < n:
        c = text[i]
        if c in LINE_BREAKS:
            out.append(text[start:i])
            while i < n and text[i].isspace():
                i += 1
            start = i
            continue
        if c not in TERMINATORS:
            i += 1
            continue
        j = i
        while j < n and text[j] in TERMINATORS:
            j += 1
        k = j
        while k < n and text[k] in CLOSERS:
            k += 1
        if k == j:
            m = k
            while m < n and text[m].isspace() and text[m] not in LINE_BREAKS:
                m += 1
            if k < m < n and text[m] in SPACED_CLOSERS:
                k = m + 1
                while k < n and text[k] in CLOSERS:
                    k += 1
        if _ends_sentence(text, i, j, k, lang):
            out.append(text[start:k])
            i = k
            while i < n and text[i].isspace():
                i += 1
            start = i
        else:
            i = k
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def language_code(text: str) -> tuple[str, str]:
    """A leading ``>>xx<<`` target-language code (the tokenizer's rule) and the text after it."""
    if text.startswith(">>") and (end := text.find("<<")) != -1:
        return text[: end + 2], text[end + 2 :]
    return "", text


def segment(
    text: str, encode: Callable[[str], list[int]], max_len: int, eos_id: int, lang: str | None = None
) -> Segments:
    """Section 1.4: one piece per sentence (a leading language code repeated before each), a sentence
    too long for ``max_len`` cut into chunks of ``max_len - 1`` ids and EOS, with a warning."""
    code, body = language_code(text)
    sentences = [f"{code} {s}" if code else s for s in split_sentences(body, lang)] or [text]
    out = Segments([])
    for sentence in sentences:
        sentence_ids = encode(sentence)
        if len(sentence_ids) <= max_len:
            out.pieces.append(sentence_ids)
            out.texts.append(sentence)
            continue
        body_ids = sentence_ids[:-1]
        width = max_len - 1
        chunks = [body_ids[i : i + width] + [eos_id] for i in range(0, len(body_ids), width)]
        out.pieces.extend(chunks)
        out.texts.extend([None] * len(chunks))
        preview = sentence if len(sentence) <= 40 else sentence[:37] + "..."
        out.warnings.append(
            f"sentence of {len(sentence_ids)} tokens exceeds the max source length {max_len}; "
            f"cut into {len(chunks)} pieces: {preview!r}"
        )
    return out
