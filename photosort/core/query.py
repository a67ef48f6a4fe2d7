"""The search query language.

    beach sunset -people            text, minus a text
    +photo.jpg 2:"at night"         an example photo, plus a text weighted twice
    dog folder:Holidays tag:family after:2023-06-01 before:2024-01-01
    tag:family before:2010-01-01    filters alone: the photos that pass them, newest first

Plain words make one text. A term with a sign (`+`, `-`) or a weight (`2:`) stands alone: quote it to give it
several words. A term that names an image file (by its suffix) is an example photo. Filters narrow what is
searched: `folder:` (a folder path, or part of one), `tag:` (a label), `after:` (that day or later) and
`before:` (earlier than that day), dates as YYYY-MM-DD in local time.

Quotes (" or ') group words only where they pair: a quote opens a group at the start of a term (or right after
its sign, weight or filter name) and closes at the next quote of its kind that ends the term. Any other quote is
a letter like the rest, so `grandma's garden`, `kids' party` and `'70s cars` read as written. Quoted parts
written side by side join, as a shell quotes a name (`'o'"'"'brien.jpg'` is o'brien.jpg).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .errors import LibraryError
from .names import is_image_name

FILTERS = ("folder", "tag", "after", "before")
_QUOTES = "\"'"
# What comes before a term's text: a filter's name, or a sign and a weight. It is read before any quote, so a
# quoted text ("tag:x", "2:1") is never taken for a filter or a weight.
_HEAD = re.compile(rf"(?i:(?P<filter>{'|'.join(FILTERS)}):)|(?P<sign>[+-])?(?P<weight>(?:\d+(?:\.\d+)?|\.\d+):)?")
_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"\S*")


@dataclass(frozen=True)
class Term:
    weight: float  # negative: away from it
    text: str | None = None
    image: str | None = None


@dataclass
class Query:
    terms: list[Term] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    after: float | None = None  # timestamps
    before: float | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.folders or self.tags or self.after is not None or self.before is not None)


def parse(text: str) -> Query:
    """The query a text says. Filters alone make a query (the photos that pass them); terms to avoid alone
    do not."""
    query = Query()
    words: list[str] = []
    for head, body in _terms(text):
        parts = _matched(_HEAD.fullmatch(head))  # `head` is what _HEAD matched
        if parts["filter"]:
            _add_filter(query, parts["filter"].lower(), body)
            continue
        weight = float(parts["weight"][:-1]) if parts["weight"] else 1.0
        if parts["sign"] == "-":
            weight = -weight
        if is_image_name(body):
            query.terms.append(Term(weight, image=body))
        elif head:
            query.terms.append(Term(weight, text=body))
        else:
            words.append(body)
    if words:
        query.terms.insert(0, Term(1.0, text=" ".join(words)))
    if not query.filtered and not any(term.weight > 0 for term in query.terms):
        raise LibraryError("the query has nothing to search for: add a text, an example photo or a filter"
                           + (" (only terms to avoid were given)" if query.terms else ""))
    return query


def _terms(text: str) -> list[tuple[str, str]]:
    """The query's terms, each as its head (sign, weight or filter name, or "") and its text, unquoted."""
    groups = _quoted_groups(text)
    terms = []
    at = _matched(_SPACE.match(text)).end()
    while at < len(text):
        head = _matched(_HEAD.match(text, at)).group()
        start = at + len(head)
        if start in groups:
            at, body = groups[start]
        else:
            at = _matched(_WORD.match(text, start)).end()
            body = text[start:at]
        if body:
            terms.append((head, body))
        elif head:  # a sign or a filter's name with nothing after it is a word like any other
            terms.append(("", head))
        at = _matched(_SPACE.match(text, at)).end()
    return terms


def _matched(match: re.Match[str] | None) -> re.Match[str]:
    """The match of a pattern that cannot fail: _HEAD, _SPACE and _WORD each match the empty text."""
    assert match is not None
    return match


def _quoted_groups(text: str) -> dict[int, tuple[int, str]]:
    """For each quote that pairs, where its group ends (after the closing quote) and what it holds. A group
    closes at the first quote of its kind that is followed by a space, the end of the text, or another group,
    which joins it (a shell quotes o'brien as 'o'"'"'brien')."""
    groups: dict[int, tuple[int, str]] = {}
    # From the end, so that the group a closing quote may lead into is known first.
    for opening in reversed([at for at, letter in enumerate(text) if letter in _QUOTES]):
        closing = text.find(text[opening], opening + 1)
        while closing != -1:
            after = closing + 1
            if after == len(text) or text[after].isspace():
                groups[opening] = (after, text[opening + 1:closing])
                break
            if after in groups:
                end, rest = groups[after]
                groups[opening] = (end, text[opening + 1:closing] + rest)
                break
            closing = text.find(text[opening], after)
    return groups


def _add_filter(query: Query, name: str, value: str) -> None:
    if name == "folder":
        query.folders.append(value)
    elif name == "tag":
        query.tags.append(value)
    else:
        try:
            moment = datetime.strptime(value, "%Y-%m-%d").timestamp()
        except ValueError as error:
            raise LibraryError(f"{name}: wants a date as YYYY-MM-DD, not {value!r}") from error
        if name == "after":
            query.after = moment
        else:
            query.before = moment
