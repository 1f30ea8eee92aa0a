"""A person's text shown as text in Streamlit's Markdown elements (st.warning, st.error, st.caption...).

A link's values reach the notices; rendered as Markdown they could become links with an attacker's
words or remote images that the browser fetches as soon as the page opens. `plain(text)` makes any
string display as its own characters. What it must defeat, read from Streamlit 1.67's renderer
(static/js/StreamlitMarkdown.*.js: react-markdown with GFM, math, directives and emoji; raw HTML is
shown as literal text since `unsafe_allow_html` is off):

- everything the parser reads (links, images, emphasis, code, HTML tags, <autolinks>, entities,
  $math$, :directive[...], tables, headings and list markers at a line's start): a backslash before
  the character, which CommonMark allows for any ASCII punctuation;
- three transforms that run on the parsed text, after escapes are resolved, so a backslash cannot
  stop them: GFM's literal autolinks (`http://host`, `www.host`, `name@host`), `:material/icon:` and
  `:streamlit:` icons, and emoji shortcodes. An invisible WORD JOINER (U+2060) after `:` (before
  anything but a space), after `www` and before `@` breaks their patterns; the text reads the same.

Streamlit's arrow substitutions (` -> ` shown as →) remain: they fetch nothing and link nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WJ = "\u2060"  # WORD JOINER: zero width, no line break, not whitespace or punctuation to a regex
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")  # a new line would start a new block
_PUNCT = re.compile(r"([\\`*\[\]()!<>#|~$&])")  # what Markdown, GFM and math read
# CommonMark never reads an underscore between two letters or digits as emphasis (seq_len stays as is)
_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_LEAD = re.compile(r"^(\s*)([-+=]|\d+[.)])")  # a list item, setext line or ordered item at the start
_COLON = re.compile(r":(?=\S)")  # a colon that could open an icon, emoji, directive or http://
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)

MAX_NOTICES = 8  # a link can carry thousands of bad items; a notice lists this many
CLIP = 40  # characters of a person's name for something (a file) that a label repeats


def plain(text: object) -> str:
    """`text` for a Markdown element, shown as its own characters on one line."""
    s = _BREAKS.sub(" ", str(text))
    s = _PUNCT.sub(r"\\\1", s)
    s = _UNDERSCORE.sub(r"\\_", s)
    s = _LEAD.sub(
        lambda m: (
            m.group(1) + "\\" + m.group(2)
            if m.group(2)[0] in "-+="
            else m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1]
        ),
        s,
    )
    s = _COLON.sub("\\:" + WJ, s)
    s = _WWW.sub(r"\1" + WJ, s)
    return s.replace("@", WJ + "@")


def clip(text: str, limit: int = CLIP) -> str:
    """At most `limit` characters of `text`, then "…"."""
    return text if len(text) <= limit else text[:limit] + "…"


def bullets(items: Sequence[str], limit: int = MAX_NOTICES) -> str:
    """A Markdown list of `items` as plain text, at most `limit` of them and a count of the rest."""
    lines = [f"- {plain(n)}" for n in items[:limit]]
    if len(items) > limit:
        lines.append(f"- … and {len(items) - limit} more.")
    return "\n".join(lines)
