"""claw.safe_fs: the one way host code touches a tree that untrusted code can write.

Each test runs with openat2 (where the kernel has it) and with the per-component fallback.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw import safe_fs

# safe_fs and the layout work through directory descriptors only: a path taken from the cwd
# by mistake must fail the test, not touch the folder pytest runs in
pytestmark = pytest.mark.usefixtures("empty_cwd")


@pytest.fixture(params=["openat2", "fallback"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fallback":
        monkeypatch.setattr(safe_fs, "_have_openat2", False)
    yield request.param


@pytest.fixture
def tree(tmp_path: Path, resolver: str) -> Path:
    root = tmp_path / "root"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "a.txt").write_bytes(b"hello \xff")
    (tmp_path / "secret").write_text("SECRET")
    (root / "out").symlink_to(tmp_path / "secret")
    (root / "dir-out").symlink_to(tmp_path)
    (root / "alias.txt").symlink_to("notes/a.txt")
    os.mkfifo(root / "fifo")
    return root


def test_reads_regular_files_with_bad_bytes_replaced(tree: Path) -> None:
    assert safe_fs.read_text(tree, "notes/a.txt") == "hello \ufffd"
    assert safe_fs.read_text(tree, "notes/a.txt", max_bytes=3) == "hel"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", ["out", "dir-out/secret", "alias.txt", "fifo", "notes", "missing", "../secret"])
def test_refuses_links_fifos_folders_and_climbing(tree: Path, name: str) -> None:
    assert safe_fs.read_text(tree, name) is None
    if name != "missing":  # (that one writing creates)
        with safe_fs.opened(safe_fs.open_root(tree)) as root, pytest.raises(OSError):
            os.close(safe_fs.open_for_writing(root, name))
    assert (tree.parent / "secret").read_text() == "SECRET"


def test_writes_make_folders_and_replace_atomically(tree: Path) -> None:
    with safe_fs.opened(safe_fs.open_root(tree)) as root:
        with safe_fs.opened(safe_fs.make_dirs(root, ["x", "y"])) as folder:
            with safe_fs.opened(safe_fs.open_for_writing(folder, "f.txt")) as fd:
                os.write(fd, b"one")
            safe_fs.replace_file(folder, "g.txt", b"two")
        with pytest.raises(safe_fs.UnsafePath):
            safe_fs.make_dirs(root, ["dir-out", "z"])
        safe_fs.replace_file(root, "out", b"replaced, not written through")
    assert (tree / "x" / "y" / "f.txt").read_text() == "one" and (tree / "x" / "y" / "g.txt").read_text() == "two"
    assert not (tree.parent / "z").exists() and (tree.parent / "secret").read_text() == "SECRET"
    assert not (tree / "out").is_symlink()


def test_a_file_swapped_for_a_link_between_check_and_use_is_never_followed(tree: Path) -> None:
    # Given another thread swaps notes/a.txt between a file and a link to the secret, fast
    stop = threading.Event()
    secret = tree.parent / "secret"

    def swap() -> None:
        folder = tree / "notes"
        while not stop.is_set():
            os.symlink(secret, folder / "tmp-link")
            os.replace(folder / "tmp-link", folder / "a.txt")
            (folder / "tmp-file").write_text("plain")
            os.replace(folder / "tmp-file", folder / "a.txt")

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        seen = {safe_fs.read_text(tree, "notes/a.txt") for _ in range(3000)}
    finally:
        stop.set()
        swapper.join()
    # Then every read saw the plain file or nothing, never the secret
    assert "SECRET" not in seen and seen <= {"plain", None, "hello \ufffd"}
