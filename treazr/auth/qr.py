"""QR codes for invite links: SVG for the web page, block characters for the terminal."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg

__all__ = ["qr_svg", "qr_svg_data_url", "qr_terminal"]


def qr_svg(text: str) -> bytes:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_svg_data_url(text: str) -> str:
    import base64

    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(text)).decode("ascii")


def qr_terminal(text: str) -> str:
    """The QR code drawn with half-block characters, light modules as blocks (reads on dark terminals)."""
    code = qrcode.QRCode(border=2)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()
