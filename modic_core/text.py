"""Text that came from a file (DICOM tags, file names) made safe to draw: plain, visible, short.

A SeriesDescription, a Manufacturer or a file name is written by whoever made the file, so the
product treats it as hostile text: it may hold markdown (``![p](http://host/pixel.png)``,
``**ALERT**``, ``:red[...]``), TeX math (``$x_{$``), bidirectional overrides that spoof words
(U+202E), zero-width characters, control characters or 60,000 characters.

- :func:`plain_text` is applied where tag text enters the product (the readers): Unicode NFC;
  whitespace (tabs, newlines, U+2028 ...) collapsed to single spaces; control and format
  characters dropped (categories Cc, Cf -- bidi embeddings/overrides U+202A-U+202E and isolates
  U+2066-U+2069, zero-width U+200B-U+200F, U+FEFF -- and lone surrogates, Cs); capped at
  ``limit`` characters, the last one an ellipsis.
- :func:`markdown_inert` is applied where such text is drawn by a markdown renderer (Streamlit's
  ``st.markdown``, ``st.caption``, ``st.info``, ...): every markdown character where it could
  act is backslash-escaped (CommonMark renders an escaped punctuation character as itself), so links,
  images, emphasis, ``:color[]`` directives, ``:shortcodes:``, ``$math$`` and HTML stay text; bare
  URLs and e-mail addresses get an invisible word joiner so that they are not linked.
- :func:`strip_invisible` drops only the format characters (Cf), for cells whose text must
  otherwise stay as given (CSV cells).

Matplotlib draws user text with math parsing off (``Text.set_parse_math(False)``) and
``usetex=False`` (:mod:`modic_core.export.documents`).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["DICOM_LO_CHARS", "DICOM_ST_CHARS", "ELLIPSIS", "MARKDOWN_INLINE", "WORD_JOINER", "markdown_inert", "plain_text", "strip_invisible"]

#: Longest value of a DICOM LO (Long String) element, e.g. SeriesDescription, Manufacturer (characters).
DICOM_LO_CHARS = 64
#: Longest value of a DICOM ST (Short Text) element (characters).
DICOM_ST_CHARS = 1024
ELLIPSIS = "\u2026"

_DROPPED = frozenset(("Cc", "Cf", "Cs"))
#: Characters that open or close markdown anywhere in a line (CommonMark, GFM strikethrough, HTML,
#: entities, KaTeX math); always escaped. ``_`` is escaped except inside a word (``study_id``), where
#: it cannot emphasise, and ``:`` unless a space follows (Streamlit's ``:red[...]``, ``:+1:``, ``:material/x:``).
MARKDOWN_INLINE = "\\`*[]<>$~&"
_INLINE = re.compile("[" + re.escape(MARKDOWN_INLINE) + r"]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|:(?=\S)")
#: Block markers at the start of a line: heading ``#``, list ``-`` ``+`` ``1.`` ``1)``, quote ``>``,
#: setext/table ``=`` ``|`` (``*`` is escaped everywhere).
_LINE_START = re.compile(r"^([ \t]*)(?:([#+\-=>|])|(\d+)([.)]))", re.M)
#: Invisible character that breaks GFM's literal autolinks (see :func:`markdown_inert`).
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<![a-z0-9])(?:https?|ftp|mailto|xmpp|www)(?=\\?[:.])|@(?=[a-z0-9])")


def plain_text(value: Any, *, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """``value`` as one line of visible text of at most ``limit`` characters (see the module docstring).

    ``None`` gives ``""``; anything else is ``str()``-ed first. A text longer than ``limit`` keeps
    its first ``limit - len(ellipsis)`` characters (trailing spaces removed) and ``ellipsis``
    (``"..."`` where the target character set has no U+2026, e.g. DICOM's default).

    Raises:
        ValueError: ``limit`` is not longer than ``ellipsis``.
    """
    if limit < max(1, len(ellipsis) + 1):
        raise ValueError(f"limit must be at least {max(1, len(ellipsis) + 1)} characters, got {limit!r}")
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _DROPPED)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - len(ellipsis)].rstrip() + ellipsis
    return text


def markdown_inert(value: Any) -> str:
    """``value`` drawn literally by a markdown renderer: ``**ALERT**`` shows its asterisks,
    ``![p](url)`` fetches nothing, ``[a](url)`` links nowhere, ``:red[x]``, ``$x$``, ``<b>``, ``~~x~~``
    and a leading ``#``, ``-`` or ``1.`` stay text. Apply it to the user-derived part of a markdown
    string only, after :func:`plain_text`.

    Markdown characters are backslash-escaped (CommonMark draws an escaped punctuation character as
    itself): :data:`MARKDOWN_INLINE` everywhere, ``_`` and ``:`` where they could act, block markers at
    the start of a line. Harmless punctuation (``.`` ``,`` ``(`` ``/`` ...) is left as it is, so the
    source stays readable. GitHub-flavoured markdown also links bare URLs and e-mail addresses found in
    the text *after* escapes are resolved (``http://host/x``, ``www.host``, ``a@host.org``): a WORD
    JOINER (U+2060, invisible, :data:`WORD_JOINER`) is put after the scheme or ``www`` and after ``@``.
    """
    text = _INLINE.sub(lambda m: "\\" + m.group(0), "" if value is None else str(value))
    text = _LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), text)
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, text)


def strip_invisible(value: str) -> str:
    """``value`` without format characters (Unicode category Cf: bidi controls, zero-width
    characters, U+FEFF); everything else, newlines included, is kept."""
    if value.isascii():
        return value
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cf")
