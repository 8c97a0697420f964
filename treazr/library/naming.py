"""Clean titles from No-Intro style names: ``Zelda, The (Europe) (En,Fr,De) (Rev 1) [!]``.

The tags in round and square brackets become fields (region, languages, revision) or stay as free
tags (``Beta``, ``!``); what is left is the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["NameInfo", "parse_name"]

_REGIONS = {
    "usa", "europe", "japan", "world", "asia", "australia", "brazil", "canada", "china", "france",
    "germany", "hong kong", "italy", "korea", "netherlands", "spain", "sweden", "taiwan", "uk", "russia",
    "scandinavia", "unknown", "latin america", "denmark", "finland", "norway", "portugal", "poland",
}
_GOODTOOLS_REGIONS = {"U": "USA", "E": "Europe", "J": "Japan", "W": "World", "A": "Australia", "K": "Korea",
                      "F": "France", "G": "Germany", "B": "Brazil", "JU": "Japan, USA", "UE": "USA, Europe",
                      "JUE": "Japan, USA, Europe", "EU": "Europe"}
_LANGUAGE = re.compile(r"^[A-Z][a-z](-[A-Z][a-z]+)?$")
_REVISION = re.compile(r"^(Rev [0-9A-Z.]+|v\d+(\.\d+)*[a-z]?|Version \d+(\.\d+)*)$", re.IGNORECASE)
_TAG = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_ARTICLE = re.compile(r"^(?P<base>.+?), (?P<article>The|A|An|Le|La|Les|Der|Die|Das|El)(?P<rest>( - .*|: .*)?)$")


@dataclass(frozen=True)
class NameInfo:
    title: str
    region: str = ""
    languages: str = ""
    revision: str = ""
    tags: tuple[str, ...] = field(default=())


def _region(tag: str) -> str | None:
    parts = [part.strip() for part in tag.split(",")]
    if parts and all(part.lower() in _REGIONS for part in parts):
        return ", ".join(parts)
    return _GOODTOOLS_REGIONS.get(tag)


def _languages(tag: str) -> str | None:
    parts = [part.strip() for part in re.split(r"[,+]", tag)]
    if parts and all(_LANGUAGE.match(part) for part in parts):
        return ",".join(parts)
    return None


def _clean_title(text: str) -> str:
    text = re.sub(r"[_\s]+", " ", text).strip(" .-")
    moved = _ARTICLE.match(text)
    if moved:
        text = f"{moved['article']} {moved['base']}{moved['rest'] or ''}"
    return text


def _strip_extension(name: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if dot and stem and 1 <= len(extension) <= 4 and extension.isalnum():
        return stem
    return name


def parse_name(name: str) -> NameInfo:
    """Split a file or DAT name into a clean title and its tags (the extension, if any, is dropped)."""
    stem = _strip_extension(name.rsplit("/", 1)[-1])
    region = languages = revision = ""
    tags: list[str] = []
    for match in _TAG.finditer(stem):
        tag = (match[1] if match[1] is not None else match[2]).strip()
        if not tag:
            continue
        if match[1] is not None and not region and (found := _region(tag)):
            region = found
        elif match[1] is not None and not languages and (found := _languages(tag)):
            languages = found
        elif not revision and _REVISION.match(tag):
            revision = tag
        else:
            tags.append(tag)
    title = _clean_title(_TAG.sub(" ", stem)) or stem.strip() or name
    return NameInfo(title=title, region=region, languages=languages, revision=revision, tags=tuple(tags))
