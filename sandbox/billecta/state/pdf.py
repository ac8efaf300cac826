"""A minimal one-page PDF (1.4) of text lines, written by hand so the sandbox needs no PDF library.

Only what a valid file needs: catalog, page tree, one A4 page, the two standard Helvetica fonts (no
embedding: every reader has them), one content stream, an info dictionary, and a cross-reference table
whose offsets are counted from the bytes written. Text is encoded as WinAnsiEncoding (cp1252), which covers
Swedish; characters outside it print as ``?``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56


@dataclass(frozen=True)
class Line:
    """One line of text: ``size`` in points, ``bold`` picks Helvetica-Bold, ``gap`` is the space above it."""

    text: str
    size: float = 10
    bold: bool = False
    gap: float = 4


def _literal(text: str) -> bytes:
    """A PDF literal string: cp1252 bytes with the three special characters escaped."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(lines: Sequence[Line]) -> bytes:
    out: list[bytes] = []
    y = float(PAGE_HEIGHT - MARGIN)
    for line in lines:
        y -= line.size + line.gap
        if y < MARGIN:
            break  # one page: what does not fit is left out rather than drawn off the page
        font = b"/F2" if line.bold else b"/F1"
        # Each line is its own text object at an absolute position, so text extraction keeps the lines apart.
        out.append(b"BT %s %.1f Tf %d %.1f Td %s Tj ET" % (font, line.size, MARGIN, y, _literal(line.text)))
    return b"\n".join(out) + b"\n"


def _date(moment: datetime) -> bytes:
    stamp = moment.strftime("D:%Y%m%d%H%M%S")
    offset = moment.strftime("%z")  # "+0200" -> "+02'00'"
    return (stamp + (f"{offset[:3]}'{offset[3:]}'" if offset else "Z")).encode("ascii")


def render(lines: Sequence[Line], *, title: str, created: datetime) -> bytes:
    """The PDF bytes of one page showing ``lines`` from the top; same input, same bytes."""
    stream = _content(lines)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> "
        b"/Contents 6 0 R >>" % (PAGE_WIDTH, PAGE_HEIGHT),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%sendstream" % (len(stream), stream),
        b"<< /Title %s /Producer (Billecta sandbox) /CreationDate (%s) >>" % (_literal(title), _date(created)),
    ]
    # The second line's high bytes tell transfer tools the file is binary.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset  # each entry exactly 20 bytes, as the format requires
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, len(objects), xref)
    return bytes(out)
