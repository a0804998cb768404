"""SNMP v1/v2c messages: a small BER encoder and decoder (GET and SET of scalar values).

Pure: bytes in, values out. Enough for sysDescr/sysObjectID/sysName reads and a write check that
sets a variable to the value it already has.
"""

from __future__ import annotations

from dataclasses import dataclass

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_CONTACT = "1.3.6.1.2.1.1.4.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
PRINTER_MODEL = "1.3.6.1.2.1.25.3.2.1.3.1"  # HOST-RESOURCES hrDeviceDescr.1

GET, GET_RESPONSE, SET = 0xA0, 0xA2, 0xA3
INTEGER, OCTETS, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30


class SnmpError(ValueError):
    """A message that is not well-formed SNMP."""


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _int(v: int) -> bytes:
    return _tlv(INTEGER, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body.extend(reversed(chunk))
    return _tlv(OID, bytes(body))


def encode_value(v: str | int | bytes | None) -> bytes:
    if v is None:
        return _tlv(NULL, b"")
    if isinstance(v, int):
        return _int(v)
    return _tlv(OCTETS, v.encode() if isinstance(v, str) else v)


def request(community: str, oids: list[str], request_id: int, pdu: int = GET,
            values: list[str | int | bytes | None] | None = None, version: int = 1) -> bytes:
    """An SNMP message; version 0 is v1, 1 is v2c."""
    vals = values if values is not None else [None] * len(oids)
    binds = b"".join(_tlv(SEQUENCE, _oid(o) + encode_value(v)) for o, v in zip(oids, vals,
                                                                               strict=True))
    body = _int(request_id) + _int(0) + _int(0) + _tlv(SEQUENCE, binds)
    return _tlv(SEQUENCE, _int(version) + _tlv(OCTETS, community.encode()) + _tlv(pdu, body))


def _read(buf: bytes, i: int) -> tuple[int, bytes, int]:
    if i + 2 > len(buf):
        raise SnmpError("truncated")
    tag = buf[i]
    n = buf[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or i + k > len(buf):
            raise SnmpError("bad length")
        n = int.from_bytes(buf[i:i + k], "big")
        i += k
    if i + n > len(buf):
        raise SnmpError("truncated")
    return tag, buf[i:i + n], i + n


def _decode_oid(b: bytes) -> str:
    if not b:
        raise SnmpError("empty OID")
    out = [b[0] // 40, b[0] % 40]
    v = 0
    for c in b[1:]:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            out.append(v)
            v = 0
    return ".".join(map(str, out))


@dataclass(frozen=True, slots=True)
class Response:
    request_id: int
    error_status: int
    values: dict[str, str | int | None]


def parse_response(buf: bytes) -> Response:
    tag, msg, _ = _read(buf, 0)
    if tag != SEQUENCE:
        raise SnmpError("not an SNMP message")
    _, _ver, i = _read(msg, 0)
    _, _community, i = _read(msg, i)
    tag, pdu, _ = _read(msg, i)
    if tag != GET_RESPONSE:
        raise SnmpError(f"not a response PDU (0x{tag:02x})")
    _, rid, j = _read(pdu, 0)
    _, err, j = _read(pdu, j)
    _, _idx, j = _read(pdu, j)
    _, binds, _ = _read(pdu, j)
    values: dict[str, str | int | None] = {}
    k = 0
    while k < len(binds):
        _, vb, k = _read(binds, k)
        _, oid_b, m = _read(vb, 0)
        vtag, vbody, _ = _read(vb, m)
        value: str | int | None
        if vtag == INTEGER or vtag in (0x41, 0x42, 0x43):  # Counter32, Gauge32, TimeTicks
            value = int.from_bytes(vbody, "big", signed=vtag == INTEGER)
        elif vtag == OCTETS:
            value = vbody.decode("utf-8", "replace")
        elif vtag == OID:
            value = _decode_oid(vbody)
        else:  # NULL, noSuchObject (0x80), noSuchInstance (0x81), endOfMibView (0x82)
            value = None
        values[_decode_oid(oid_b)] = value
    return Response(int.from_bytes(rid, "big", signed=True), int.from_bytes(err, "big"), values)
