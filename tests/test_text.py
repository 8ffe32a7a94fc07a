"""modic_core.text: hostile tag text made plain, markdown made inert, format characters stripped."""
from __future__ import annotations

import unicodedata

import pytest

from modic_core.text import DICOM_LO_CHARS, ELLIPSIS, WORD_JOINER, markdown_inert, plain_text, strip_invisible

BIDI_AND_ZERO_WIDTH = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
                       "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff"]


class TestPlainText:
    @pytest.mark.parametrize("ch", BIDI_AND_ZERO_WIDTH)
    def test_drops_bidi_and_zero_width_characters(self, ch):
        assert plain_text(f"t1{ch}_tse{ch}", limit=64) == "t1_tse"

    def test_rtl_override_cannot_spoof_a_word(self):
        # shown as "T1 sag exe.gnp" by a bidi renderer; plain: the characters in stored order
        assert plain_text("T1 sag \u202egnp.exe", limit=64) == "T1 sag gnp.exe"

    def test_control_characters_dropped_and_whitespace_collapsed(self):
        assert plain_text("  T1\x00\x07 \t sag\r\n\u2028 tse\x1b[31m  ", limit=64) == "T1 sag tse[31m"

    def test_nfc(self):
        decomposed = "e\u0301"  # e + combining acute
        assert plain_text(decomposed, limit=8) == "\u00e9" and unicodedata.is_normalized("NFC", plain_text(decomposed, limit=8))

    def test_capped_with_an_ellipsis(self):
        out = plain_text("x" * 60_000, limit=DICOM_LO_CHARS)
        assert len(out) == DICOM_LO_CHARS and out.endswith(ELLIPSIS) and out[:-1] == "x" * 63
        assert plain_text("abc", limit=3) == "abc"
        assert plain_text("ab  cd", limit=4) == "ab" + ELLIPSIS  # trailing space before the ellipsis removed
        assert plain_text("x" * 10, limit=8, ellipsis="...") == "xxxxx..."

    def test_markdown_and_math_kept_as_text(self):
        text = "![p](http://h/p.png) **ALERT** $x_{$"
        assert plain_text(text, limit=64) == text  # plain: drawing it inertly is the renderer's job

    def test_none_and_non_text(self):
        assert plain_text(None, limit=5) == "" and plain_text(12.5, limit=5) == "12.5"

    def test_limit_checked(self):
        with pytest.raises(ValueError, match="limit"):
            plain_text("x", limit=0)


class TestMarkdownInert:
    @pytest.mark.parametrize("text, inert", [
        ("![p](http://127.0.0.1:9/pixel.png)", "!\\[p\\](http" + WORD_JOINER + "\\://127.0.0.1\\:9/pixel.png)"),
        ("**ALERT**", "\\*\\*ALERT\\*\\*"),
        ("[click](https://evil)", "\\[click\\](https" + WORD_JOINER + "\\://evil)"),
        (":red[warning] :+1: :material/home:", "\\:red\\[warning\\] \\:+1: \\:material/home:"),
        ("$5 and $6", "\\$5 and \\$6"),
        ("<b>html</b> &amp;", "\\<b\\>html\\</b\\> \\&amp;"),
        ("`code` ~~strike~~", "\\`code\\` \\~\\~strike\\~\\~"),
        ("_emph_ and a_b_c", "\\_emph\\_ and a_b_c"),
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("+ item", "\\+ item"),
        ("1. list", "1\\. list"),
        ("12) list", "12\\) list"),
        ("> quote", "\\> quote"),
        ("back\\slash", "back\\\\slash"),
    ])
    def test_markdown_characters_escaped(self, text, inert):
        assert markdown_inert(text) == inert

    def test_harmless_punctuation_stays(self):
        text = "No cohort was found: the folder needs studies.csv (study_id, t1, ...); 'x' / y? 50 %"
        assert markdown_inert(text) == text

    def test_unescaping_gives_the_text_back(self):
        import re

        text = "T1 **ALERT** ![p](http://h/p.png) \\ $5 :red[x] _a_ # 1."
        assert re.sub(r"\\(.)", r"\1", markdown_inert(text).replace(WORD_JOINER, "")) == text

    @pytest.mark.parametrize("text, broken", [
        ("see http://127.0.0.1:9/p.png", "http" + WORD_JOINER + "\\:"),
        ("HTTPS://evil.example", "HTTPS" + WORD_JOINER + "\\:"),
        ("_http://x", "http" + WORD_JOINER),
        ("www.evil.example", "www" + WORD_JOINER + "."),
        ("mail a@evil.example", "@" + WORD_JOINER),
    ])
    def test_bare_urls_and_addresses_are_not_linked(self, text, broken):
        # GFM links them in the text after escapes are resolved; a word joiner breaks the pattern
        assert broken in markdown_inert(text)

    def test_none(self):
        assert markdown_inert(None) == ""


def test_strip_invisible_keeps_newlines_and_drops_format_characters():
    assert strip_invisible("a\u202eb\nc\u200b\ufeff") == "ab\nc"
    assert strip_invisible("plain ascii\t") == "plain ascii\t"
