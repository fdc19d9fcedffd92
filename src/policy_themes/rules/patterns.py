"""A rule's patterns as what matches them: ``re:`` bodies compiled by RE2 (linear time), phrases as
their word variants, the regexes that confirm wildcard phrases, and the literal keys the
automaton looks for."""

from __future__ import annotations

import itertools
import re
from typing import Any

from policy_themes.limits import MAX_REGEX_MEMORY

__all__ = ["Regex", "Phrase", "compile_rule_regex", "phrase_variants", "phrase_regex",
           "phrase_keys"]

Regex = Any  # a compiled RE2 expression (``re2.compile``): search, match, finditer as ``re``


# a word of letters and digits, with * anywhere after its first letter, or a bare *
_PHRASE_TOKEN = re.compile(r"[^\W_]+(?:\*[^\W_]*)*|\*")


_MAX_HYPHEN_VARIANTS = 8


_MAX_KEYS = 5000


# an escape, or an inline flag group that switches flags off: (?-m) (?i-m:
_ESCAPE_OR_FLAGS_OFF = re.compile(r"\\(.)|\(\?[a-zA-Z]*-([a-zA-Z]*)[:)]", re.DOTALL)


_ESCAPES = re.compile(r"\\p\{[^}]*\}|\\[pP].|\\.", re.DOTALL)


def compile_rule_regex(body: str) -> Regex:
    """Compile the regex of a ``re:`` pattern, which sees one normalised (lower-case) sentence.

    The regex runs on RE2, in time linear in the text. It never matches a line feed, and
    ``^`` and ``$`` match at the start and end of each line (``(?m)``), so that over a batch of
    sentences (one a line) its matches are those it has in each sentence alone. Case is
    ignored only when the regex spells an upper-case letter (outside escapes such as ``\\D``
    or ``\\p{Lu}``).

    Raises
    ------
    ValueError
        If RE2 cannot run the regex (backreferences, lookarounds, an invalid regex, one too
        large), or it uses ``\\A``, ``\\z``, ``\\Z`` or switches ``m`` off (``(?-m)``): a rule
        sees one sentence, whose start and end ``^`` and ``$`` match.
    """
    import re2

    for escape, flags_off in _ESCAPE_OR_FLAGS_OFF.findall(body):
        if escape in ("A", "z", "Z"):
            raise ValueError(f"\\{escape} is not supported: a rule sees one sentence, use ^ "
                             "and $ for its start and end")
        if "m" in flags_off:
            raise ValueError("(?-m) is not supported: ^ and $ match at the start and end of "
                             "the sentence")
    case_sensitive = not any(c.isupper() for c in _ESCAPES.sub("", body))
    try:
        return re2.compile("(?m)" + body, _re2_options(case_sensitive=case_sensitive))
    except re2.error as exc:
        message = _re2_message(exc)
        if message.startswith(("invalid escape sequence: \\1", "invalid perl operator: (?<",
                               "invalid perl operator: (?=", "invalid perl operator: (?!")):
            message += " (RE2, which runs rules in linear time, has no backreferences or " \
                       "lookarounds)"
        raise ValueError(f"RE2 cannot run it: {message}") from None


def _re2_options(*, case_sensitive: bool = True):
    """RE2's options for the package's regexes: never a line feed (one sentence a line), errors
    raised rather than also logged to stderr, at most
    :data:`~policy_themes.limits.MAX_REGEX_MEMORY` of memory each."""
    import re2

    options = re2.Options()
    options.never_nl = True
    options.log_errors = False
    options.case_sensitive = case_sensitive
    options.max_mem = MAX_REGEX_MEMORY
    return options


def _re2_message(exc: Exception) -> str:
    """RE2's error message (it comes as bytes)."""
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


Phrase = tuple[tuple[str, ...], ...]  # words, each a tuple of alternatives


def phrase_variants(pattern: str) -> list[Phrase]:
    """The normalised forms of a phrase pattern, as words of alternatives.

    Hyphens count as spaces, and as nothing (``multi-vector`` gives ``multi vector`` and
    ``multivector``); ``a|b`` in a word gives alternatives, each normalised like the text
    (``u.n.`` → ``u n``, which may hold several words); ``*`` is kept.
    """
    lowered = pattern.lower()
    pieces = re.split(r"[-\u2010\u2011\u2012\u2013]", lowered)
    if 1 < len(pieces) <= 4:
        joins = itertools.product(("-", ""), repeat=len(pieces) - 1)
        forms = [pieces[0] + "".join(sep + piece for sep, piece in zip(choice, pieces[1:]))
                 for choice in itertools.islice(joins, _MAX_HYPHEN_VARIANTS)]
    else:
        forms = [lowered]
    variants: list[Phrase] = []
    for form in forms:
        words = tuple(w for w in (_normalise_word(t) for t in form.split()) if w)
        if words and words not in variants:
            variants.append(words)
    return variants


def _normalise_word(word: str) -> tuple[str, ...]:
    """Normalise each ``|`` alternative of a pattern word like the text."""
    alternatives = []
    for alternative in word.split("|"):
        parts = _PHRASE_TOKEN.findall(alternative)
        if parts:
            alternatives.append(" ".join(parts))
    return tuple(dict.fromkeys(alternatives))


def phrase_regex(*phrases: Phrase) -> Regex:
    """Regex (RE2) for normalised phrases (any of them), from the space before the phrase to
    the space after it (a match ends one character past the phrase's end).

    ``*`` alone is one word, ``word*`` a word starting so, ``a|b`` either alternative. In
    normalised text every character other than a space or a line feed is a letter or a digit.

    Raises
    ------
    ValueError
        If RE2 cannot compile it (too large).
    """
    import re2

    bodies = [" ".join(_word_regex(w) for w in phrase) for phrase in phrases]
    body = bodies[0] if len(bodies) == 1 else "(?:" + "|".join(bodies) + ")"
    try:
        return re2.compile(" " + body + " ", _re2_options())
    except re2.error as exc:
        raise ValueError(f"RE2 cannot run it: {_re2_message(exc)}") from None


def _word_regex(alternatives: tuple[str, ...]) -> str:
    options = []
    for alternative in alternatives:
        if alternative == "*":
            options.append(r"[^ \n]+")
        else:  # each * inside or at the end of a word: any letters and digits
            options.append(r"[^ \n]*".join(re.escape(part) for part in alternative.split("*")))
    return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"


def phrase_keys(phrase: Phrase) -> list[tuple[str, Regex | None]]:
    """Aho-Corasick keys of a normalised phrase, each with the regex that confirms a hit.

    A key is the phrase's literal text up to its first wildcard, one key per combination of
    ``|`` alternatives. A phrase without wildcards, or whose wildcards only end its last word,
    needs no confirmation.

    Raises
    ------
    ValueError
        If the phrase starts with a bare ``*``, expands to too many keys, or its regex is too
        large for RE2.
    """
    first_open = next((i for i, alts in enumerate(phrase) if any("*" in a for a in alts)), None)
    if first_open is None:
        return [(" " + " ".join(c) + " ", None) for c in _combinations(phrase)]
    last = len(phrase) - 1
    if first_open == last and all(a != "*" and "*" not in a[:-1] for a in phrase[last]):
        heads = _combinations(phrase[:last])
        keys = []
        for alternative in phrase[last]:
            tail = alternative[:-1] if alternative.endswith("*") else alternative + " "
            keys += [(" " + " ".join((*h, tail)), None) for h in heads]
        return keys
    literal = [a.split("*")[0] for a in phrase[first_open]]
    if first_open == 0 and not all(literal):
        raise ValueError("a phrase cannot start with a bare *")
    verifier = phrase_regex(phrase)
    heads = _combinations(phrase[:first_open])
    ends = dict.fromkeys((" " + a) if a else " " for a in literal)
    return [((" " + " ".join(h) if h else "") + end, verifier) for h in heads for end in ends]


def _combinations(words) -> list[tuple[str, ...]]:
    count = 1
    for alternatives in words:
        count *= len(alternatives)
    if count > _MAX_KEYS:
        raise ValueError(f"the | alternatives expand to {count} phrases (at most {_MAX_KEYS})")
    return list(itertools.product(*words))
