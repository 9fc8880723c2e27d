"""The stub's side of a pseudo-terminal: it keeps the master, a driver opens the slave path."""

from __future__ import annotations

import logging
import os
import tty
from pathlib import Path

log = logging.getLogger(__name__)


class PtyPort:
    """A raw pty whose slave path is printed for a driver; optionally a symlink that follows restarts."""

    def __init__(self, link: Path | None = None) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self._slave)
        self.link = link
        self.dropped_bytes = 0
        self.closed = False
        if link is not None:
            tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(self.name, tmp)
            os.replace(tmp, link)   # atomic: a driver never sees the link missing
            log.info("pty %s linked as %s", self.name, link)

    def fileno(self) -> int:
        return self.master

    def write(self, data: bytes) -> bool:
        """Write a whole frame; False (and counted) when the pty buffer is full because nobody reads."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.master, view)
            except BlockingIOError:
                self.dropped_bytes += len(view)
                return False
            view = view[written:]
        return True

    def read(self) -> bytes:
        """What the driver wrote to us; b"" when nothing is there."""
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Close both ends once (a second call does nothing: fd numbers get reused)."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.name:
            self.link.unlink(missing_ok=True)
