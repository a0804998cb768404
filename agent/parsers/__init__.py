"""Pure parsers: bytes in, a small frozen event or None out. No sockets, no SQLite, no globals."""
