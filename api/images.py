"""Image dimensions from the first bytes of a JPEG or PNG, read before anything is decoded.

A 30 KB PNG can declare 50000 x 50000 pixels: decoding it would allocate 7.5 GB. The photo
upload reads the declared size here and refuses over the site's pixel limit before OpenCV
sees the bytes. Only the header is parsed (PNG's IHDR chunk, JPEG's first SOFn frame header);
nothing is decompressed.
"""

import struct
from dataclasses import dataclass
from typing import Literal

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
"""JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8, CC are not frames."""
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
"""Markers without a length field (TEM, RST0-7)."""


@dataclass(frozen=True)
class ImageHeader:
    """What an image file says about itself before it is decoded."""

    format: Literal["jpeg", "png"]
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes) -> ImageHeader | None:
    """The format and declared size of a JPEG or PNG, or None if `data` is neither (or has no size).

    Args:
        data: The file's bytes (only its header is read).

    Returns:
        Format, width and height as the file declares them; None for other formats, a
        truncated header, or a zero width or height.
    """
    if data.startswith(_PNG_SIGNATURE):
        header = _png_header(data)
    elif data.startswith(b"\xff\xd8"):
        header = _jpeg_header(data)
    else:
        return None
    if header is None or header.width == 0 or header.height == 0:
        return None
    return header


def _png_header(data: bytes) -> ImageHeader | None:
    # The IHDR chunk must come first: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return ImageHeader("png", width, height)


def _jpeg_header(data: bytes) -> ImageHeader | None:
    """Walk the marker segments after SOI up to the first frame header; libjpeg decodes that frame."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _STANDALONE_MARKERS:
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            # Length (2), precision (1), height (2), width (2).
            if at + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return ImageHeader("jpeg", width, height)
        at += 2 + length
    return None
