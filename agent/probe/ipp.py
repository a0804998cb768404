"""IPP Get-Printer-Attributes (RFC 8010/8011): encode the request, parse the response. Pure."""

from __future__ import annotations

import struct

GET_PRINTER_ATTRIBUTES = 0x000B
REQUESTED = ("printer-make-and-model", "printer-firmware-string-version",
             "printer-firmware-version", "printer-info", "printer-device-id", "printer-name",
             "printer-uuid")
_TEXT_TAGS = {0x41, 0x42, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x35, 0x36}


class IppError(ValueError):
    """Not a well-formed IPP message."""


def _attr(tag: int, name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">BH", tag, len(n)) + n + struct.pack(">H", len(v)) + v


def get_printer_attributes(uri: str, request_id: int = 1) -> bytes:
    out = bytearray(struct.pack(">BBHI", 2, 0, GET_PRINTER_ATTRIBUTES, request_id))
    out.append(0x01)  # operation-attributes-tag
    out += _attr(0x47, "attributes-charset", "utf-8")
    out += _attr(0x48, "attributes-natural-language", "en")
    out += _attr(0x45, "printer-uri", uri)
    for i, name in enumerate(REQUESTED):
        out += _attr(0x44, "requested-attributes" if i == 0 else "", name)
    out.append(0x03)  # end-of-attributes-tag
    return bytes(out)


def parse_response(buf: bytes) -> tuple[int, dict[str, list[str | bytes]]]:
    """(status-code, attributes); text values decoded, octet strings kept as bytes."""
    if len(buf) < 9:
        raise IppError("shorter than an IPP header")
    _major, _minor, status, _rid = struct.unpack(">BBHI", buf[:8])
    attrs: dict[str, list[str | bytes]] = {}
    i, last = 8, ""
    while i < len(buf):
        tag = buf[i]
        i += 1
        if tag == 0x03:
            break
        if tag <= 0x0F:  # a group delimiter
            continue
        if i + 2 > len(buf):
            raise IppError("truncated attribute")
        (nlen,) = struct.unpack(">H", buf[i:i + 2])
        i += 2
        name = buf[i:i + nlen].decode("utf-8", "replace")
        i += nlen
        if i + 2 > len(buf):
            raise IppError("truncated attribute")
        (vlen,) = struct.unpack(">H", buf[i:i + 2])
        i += 2
        raw = buf[i:i + vlen]
        if len(raw) != vlen:
            raise IppError("truncated value")
        i += vlen
        if nlen:
            last = name
        if not last:
            raise IppError("additional value without an attribute")
        val: str | bytes = raw.decode("utf-8", "replace") if tag in _TEXT_TAGS else raw
        attrs.setdefault(last, []).append(val)
    return status, attrs


def encode_response(status: int, request_id: int, attrs: dict[str, list[str]]) -> bytes:
    """A Get-Printer-Attributes response (used by the tests' printer and by fuzzing)."""
    out = bytearray(struct.pack(">BBHI", 2, 0, status, request_id))
    out.append(0x01)
    out += _attr(0x47, "attributes-charset", "utf-8")
    out += _attr(0x48, "attributes-natural-language", "en")
    out.append(0x04)  # printer-attributes-tag
    for name, values in attrs.items():
        for j, v in enumerate(values):
            out += _attr(0x41, name if j == 0 else "", v)
    out.append(0x03)
    return bytes(out)
