"""The runtime's own pipe framing (wire.write_bytes, write_frames, read_bytes) is
multiprocessing.Connection's: either end may use either, frame by frame and in order."""
from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from reuse_ref.runtime import wire as W

FRAMES = [b"", b"a", b"x" * 16384, b"y" * 16385, b"z" * 200_000]  # empty, small, at and past one write, past the pipe's buffer


@pytest.fixture
def pipe():
    r, w = mp.Pipe(duplex=False)
    yield r, w
    r.close()
    w.close()


def _read_in_thread(read, n):
    """Read ``n`` frames in a thread (a frame past the pipe's buffer blocks its writer)."""
    out = []
    t = threading.Thread(target=lambda: out.extend(read() for _ in range(n)))
    t.start()
    return t, out


@pytest.mark.parametrize("together", [False, True])
def test_our_frames_are_read_by_connection(pipe, together):
    r, w = pipe
    t, out = _read_in_thread(r.recv_bytes, len(FRAMES))
    if together:
        W.write_frames(w.fileno(), FRAMES)
    else:
        for data in FRAMES:
            W.write_bytes(w.fileno(), data)
    t.join(30)
    assert out == FRAMES


def test_connection_frames_are_read_by_ours(pipe):
    r, w = pipe
    t, out = _read_in_thread(lambda: W.read_bytes(r.fileno()), len(FRAMES))
    for data in FRAMES:
        w.send_bytes(data)
    t.join(30)
    assert out == FRAMES


def test_end_of_file_is_eoferror(pipe):
    r, w = pipe
    W.write_bytes(w.fileno(), b"last")
    w.close()
    assert W.read_bytes(r.fileno()) == b"last"
    with pytest.raises(EOFError):
        W.read_bytes(r.fileno())
