"""The search query language.

    beach sunset -people            text, minus a text
    +photo.jpg 2:"at night"         an example photo, plus a text weighted twice
    dog folder:Holidays tag:family after:2023-06-01 before:2024-01-01

Plain words make one text. A term with a sign (`+`, `-`) or a weight (`2:`) stands alone: quote it to give it
several words. A term that names an image file (by its suffix) is an example photo. Filters narrow what is
searched: `folder:` (a folder path, or part of one), `tag:` (a label), `after:` (that day or later) and
`before:` (earlier than that day), dates as YYYY-MM-DD in local time.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime

from .errors import LibraryError
from .names import is_image_name

FILTERS = ("folder", "tag", "after", "before")
_WEIGHT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+):(.+)$", re.S)


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
    try:
        tokens = shlex.split(text, posix=True)
    except ValueError as error:
        raise LibraryError(f"cannot read the query: {error} (a quote left open?)") from error
    query = Query()
    words: list[str] = []
    for token in tokens:
        name, _, value = token.partition(":")
        if name.lower() in FILTERS and value:
            _add_filter(query, name.lower(), value)
            continue
        sign, body = 1.0, token
        if body[:1] in "+-" and len(body) > 1:
            sign, body = (1.0 if body[0] == "+" else -1.0), body[1:]
            explicit = True
        else:
            explicit = False
        weight = 1.0
        if match := _WEIGHT.match(body):
            weight, body, explicit = float(match.group(1)), match.group(2), True
        if is_image_name(body):
            query.terms.append(Term(sign * weight, image=body))
        elif explicit:
            query.terms.append(Term(sign * weight, text=body))
        else:
            words.append(body)
    if words:
        query.terms.insert(0, Term(1.0, text=" ".join(words)))
    if not any(term.weight > 0 for term in query.terms):
        raise LibraryError("the query has nothing to search for: add a text or an example photo"
                           + (" (only terms to avoid were given)" if query.terms else ""))
    return query


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
