"""Which text encoding a file is in, and how sure we are, from a bounded sample of its head.

Byte-order marks and strict UTF-8 are certain. Anything else is judged by charset-normalizer (a
maintained detector: it decodes the sample with each candidate and measures the mess and the
language coherence of the result), limited to the encodings tables are exported in. Unrestricted,
it picks DOS and Mac code pages on short samples (cp775 for a three-line cp1252 file).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import charset_normalizer

SAMPLE_BYTES = 64 * 1024  # charset-normalizer reads a few chunks of it; a bigger sample only costs time
LOW_CONFIDENCE = 0.7  # below this, the dataset carries an ENCODING_UNCERTAIN alert
_NEAR = 0.02  # a rival whose mess is this close to the best one's is as plausible
_FEW_NON_ASCII = 32  # fewer non-ASCII bytes than this say little (charset-normalizer's own small-sample rule)
CANDIDATES = [
    # Western, Central and Eastern European, Greek, Turkish, Hebrew, Arabic, Baltic, Vietnamese, Thai
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "iso8859_5",
    "koi8_r",
    "koi8_u",
    "cp1253",
    "iso8859_7",
    "cp1254",
    "iso8859_9",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "cp874",
    "mac_roman",
    # East Asian
    "cp932",
    "shift_jis",
    "euc_jp",
    "cp949",
    "euc_kr",
    "gb18030",
    "big5",
]


@dataclass(frozen=True)
class DetectedEncoding:
    encoding: str  # a Python codec name
    confidence: float  # 0-1: 1 for a byte-order mark or valid UTF-8
    rival: str | None = None  # an encoding that read the sample as different text almost as cleanly

    @property
    def uncertain(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


def detect_encoding(sample: bytes) -> DetectedEncoding:
    if sample.startswith(codecs.BOM_UTF8):
        return DetectedEncoding("utf-8-sig", 1.0)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return DetectedEncoding("utf-16", 1.0)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return DetectedEncoding("utf-8", 1.0)  # ASCII too: every candidate reads it the same
    except UnicodeDecodeError:
        pass
    sample = _whole_lines(sample[:SAMPLE_BYTES])
    matches = charset_normalizer.from_bytes(sample, cp_isolation=CANDIDATES)
    best = matches.best()
    if best is None:  # no candidate decodes it: the reader replaces what cp1252 cannot map
        return DetectedEncoding("cp1252", 0.0)
    confidence = 1.0 - best.chaos  # what charset-normalizer's chardet-compatible detect() calls confidence
    text = str(best)
    readings = [(match, match is best or str(match) == text) for match in matches]
    # Of the encodings that read the sample as the same text, name the most common (cp1252 before cp1250).
    named = min((name for match, same in readings if same for name in match.could_be_from_charset), key=_rank)
    rival = next(
        (
            match.encoding
            for match, same in readings
            if not same and match.chaos <= best.chaos + _NEAR and match.coherence >= best.coherence - _NEAR
        ),
        None,
    )
    if rival is not None:
        confidence -= 0.3
    if sum(1 for byte in sample if byte > 127) < _FEW_NON_ASCII:
        confidence -= 0.2
    return DetectedEncoding(
        codecs.lookup(named).name, round(max(0.0, confidence), 2), codecs.lookup(rival).name if rival else None
    )


def _rank(encoding: str) -> int:
    name = codecs.lookup(encoding).name
    return next((i for i, candidate in enumerate(CANDIDATES) if codecs.lookup(candidate).name == name), len(CANDIDATES))


def _whole_lines(sample: bytes) -> bytes:
    """The sample up to its last line break: a multi-byte character cut at the end would look like mess."""
    end = sample.rfind(b"\n")
    return sample[: end + 1] if end > 0 else sample
