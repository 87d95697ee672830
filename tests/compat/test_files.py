"""gevent's file helpers: corolib.fileobject and corolib.os's fd helpers."""

from __future__ import annotations

import os

import corolib
from corolib import os as coos
from corolib.fileobject import FileObject, FileObjectPosix, FileObjectThread


def test_nb_read_and_write_park_on_a_pipe():
    r, w = os.pipe()
    try:
        assert coos.make_nonblocking(r) is True
        assert coos.make_nonblocking(r) is False
        coos.make_nonblocking(w)
        reader = corolib.spawn(coos.nb_read, r, 100)
        corolib.sleep(0)
        assert not reader.ready()  # parked, the thread is free
        assert coos.nb_write(w, b"hello") == 5
        assert reader.get(timeout=5) == b"hello"
    finally:
        corolib.cancel_wait(r)  # the hub's record of r, before the fd goes
        os.close(r)
        os.close(w)


def test_tp_read_and_write_on_a_regular_file(tmp_path):
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        assert coos.tp_write(fd, b"data") == 4
        os.lseek(fd, 0, os.SEEK_SET)
        assert coos.tp_read(fd, 10) == b"data"
    finally:
        os.close(fd)


def test_fileobject_posix_on_a_pipe():
    assert FileObject is FileObjectPosix
    r, w = os.pipe()
    reader = FileObjectPosix(r, "r")
    writer = FileObjectPosix(w, "w")
    got = corolib.spawn(reader.readline)
    corolib.sleep(0)
    assert not got.ready()
    writer.write("line one\n")
    writer.flush()
    assert got.get(timeout=5) == "line one\n"
    writer.close()
    assert reader.read() == ""
    reader.close()
    assert reader.closed


def test_fileobject_posix_close_false_keeps_the_fd():
    r, w = os.pipe()
    try:
        f = FileObjectPosix(w, "wb", close=False)
        f.write(b"x")
        f.close()
        os.write(w, b"y")  # still open
        assert os.read(r, 10) == b"xy"
    finally:
        os.close(r)
        os.close(w)


def test_fileobject_thread_on_a_regular_file(tmp_path):
    path = tmp_path / "t.txt"
    with FileObjectThread(str(path), "w") as f:
        f.write("a\nb\n")
    with FileObjectThread(str(path), "r") as f:
        assert list(f) == ["a\n", "b\n"]
    assert f.closed
