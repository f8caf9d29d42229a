"""How events get out to subscribers: the fan-out (one encoded frame per event, bounded buffers), filters and
opaque cursors."""
