"""claw.safe_fs: the one way host code touches a tree that untrusted code can write.

Each test runs with openat2 (where the kernel has it) and with the per-component fallback.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
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
@pytest.mark.parametrize(
    "name", ["out", "dir-out/secret", "alias.txt", "fifo", "fifo/inside", "notes", "missing", "../secret"])
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


def test_a_refusal_says_what_was_found_there() -> None:
    modes = [stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFIFO, stat.S_IFSOCK, stat.S_IFCHR, stat.S_IFBLK, 0]
    assert [safe_fs.kind(mode) for mode in modes] == [
        "file", "folder", "symlink", "FIFO", "socket", "device", "device", "special file"]


def test_reading_a_fifo_or_a_folder_is_refused_by_name_and_kind(tree: Path) -> None:
    with safe_fs.opened(safe_fs.open_root(tree)) as root:
        for name, what in (("fifo", "fifo is a FIFO, not a file"), ("notes", "notes is a folder, not a file")):
            with pytest.raises(safe_fs.UnsafePath, match=what):
                safe_fs.open_regular(root, name)


def test_written_files_are_created_0644_truncated_unless_appending_and_not_inherited(tree: Path) -> None:
    previous = os.umask(0o022)
    try:
        with safe_fs.opened(safe_fs.open_root(tree)) as root:
            for text in (b"a longer first version", b"second"):
                with safe_fs.opened(safe_fs.open_for_writing(root, "notes/new.txt")) as fd:
                    assert not os.get_inheritable(fd)  # no child process gets the file
                    os.write(fd, text)
            with safe_fs.opened(safe_fs.open_for_writing(root, "notes/new.txt", append=True)) as fd:
                os.write(fd, b"+more")
            with safe_fs.opened(safe_fs.open_regular(root, "notes/new.txt")) as fd:
                assert not os.get_inheritable(fd)
    finally:
        os.umask(previous)
    assert (tree / "notes" / "new.txt").read_bytes() == b"second+more"
    assert stat.S_IMODE((tree / "notes" / "new.txt").stat().st_mode) == 0o644


def test_writing_needs_a_file_name(tree: Path) -> None:
    with safe_fs.opened(safe_fs.open_root(tree)) as root, pytest.raises(safe_fs.UnsafePath) as refused:
        safe_fs.open_for_writing(root, "")
    assert (refused.value.errno, refused.value.strerror) == (errno.EISDIR, "a file name is needed")


def test_a_tree_is_removed_whole_without_following_its_links(tree: Path, tmp_path: Path) -> None:
    # Given a deep folder with links out, a FIFO, a socket and a folder nobody may read
    top = tree / "scratch"
    deep = top / Path(*["d"] * 60)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    (deep / "out").symlink_to(tmp_path, target_is_directory=True)
    os.mkfifo(top / "d" / "pipe")
    here = os.getcwd()
    os.chdir(top)
    try:
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind("sock")
    finally:
        os.chdir(here)
    (top / "locked" / "inside").mkdir(parents=True)
    (top / "locked" / "inside" / "g.txt").write_text("y")
    (top / "locked").chmod(0)
    (tree / "plain.txt").write_text("z")
    # When it, a plain file and a missing name are removed
    with safe_fs.opened(safe_fs.open_root(tree)) as root:
        for name in ("scratch", "plain.txt", "missing", "out"):
            safe_fs.remove_tree(root, name)
    # Then they are gone, and what the links pointed to is untouched
    assert sorted(p.name for p in tree.iterdir()) == ["alias.txt", "dir-out", "fifo", "notes"]
    assert (tmp_path / "secret").read_text() == "SECRET" and (tmp_path / "root").is_dir()


def test_folders_are_made_0755_and_only_the_new_ones_handed_to_the_owner(tree: Path) -> None:
    owner = (65534, 65534) if os.geteuid() == 0 else None
    previous = os.umask(0)
    try:
        with safe_fs.opened(safe_fs.open_root(tree)) as root:
            os.close(safe_fs.make_dirs(root, ["notes", "new", "deeper"], owner))
    finally:
        os.umask(previous)
    for folder in (tree / "notes" / "new", tree / "notes" / "new" / "deeper"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
        if owner is not None:
            assert (folder.stat().st_uid, folder.stat().st_gid) == owner
    assert (tree / "notes").stat().st_uid == os.geteuid()  # it existed: left as it was


def test_a_file_on_the_way_is_no_folder_to_make_or_enter(tree: Path) -> None:
    with safe_fs.opened(safe_fs.open_root(tree)) as root, pytest.raises(NotADirectoryError):
        safe_fs.make_dirs(root, ["notes", "a.txt"])


def test_a_replaced_file_is_0644_and_a_failed_replace_leaves_nothing_behind(tree: Path) -> None:
    previous = os.umask(0o022)
    try:
        with safe_fs.opened(safe_fs.open_root(tree)) as root:
            safe_fs.replace_file(root, "new.txt", b"x")
            with pytest.raises(IsADirectoryError):
                safe_fs.replace_file(root, "notes", b"not over a folder")
            with pytest.raises(safe_fs.UnsafePath) as refused:
                safe_fs.replace_file(root, "notes/a.txt", b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tree / "new.txt").stat().st_mode) == 0o644
    assert (refused.value.errno, refused.value.strerror) == (errno.EINVAL, "'notes/a.txt' is not a plain file name")
    assert sorted(p.name for p in tree.iterdir()) == ["alias.txt", "dir-out", "fifo", "new.txt", "notes", "out"]


def test_each_refusal_says_why(tree: Path) -> None:
    def refusal(call) -> tuple[int | None, str | None]:  # type: ignore[no-untyped-def]
        with pytest.raises(safe_fs.UnsafePath) as refused:
            call()
        return refused.value.errno, refused.value.strerror

    assert refusal(lambda: safe_fs.parts_of("a\x00b")) == (errno.EINVAL, "the path contains a NUL character")
    assert refusal(lambda: safe_fs.parts_of("/etc/passwd")) == (
        errno.EINVAL, "'/etc/passwd' is absolute; a relative path is needed")
    assert refusal(lambda: safe_fs.parts_of("notes/../x")) == (errno.EINVAL, "'notes/../x' contains '..'")
    with pytest.raises(FileNotFoundError):
        safe_fs.open_root(tree / "missing")
    with safe_fs.opened(safe_fs.open_root(tree)) as root:
        assert refusal(lambda: safe_fs.open_beneath(root, "dir-out/secret", os.O_RDONLY)) == (
            errno.ELOOP, "dir-out/secret is or passes a symlink; refused")
        assert refusal(lambda: safe_fs.open_regular(root, "fifo")) == (errno.EINVAL, "fifo is a FIFO, not a file")
        # "." is the folder itself, opened like any other name (not inherited by children)
        with safe_fs.opened(safe_fs.open_beneath(root, ".", os.O_RDONLY | os.O_DIRECTORY)) as itself:
            assert os.fstat(itself).st_ino == os.fstat(root).st_ino and not os.get_inheritable(itself)


def test_reads_are_capped_to_the_byte_and_report_the_full_size(tree: Path) -> None:
    big = os.urandom(3 * 1024 * 1024 // 2)  # more than one read's chunk
    (tree / "notes" / "big.bin").write_bytes(big)
    with safe_fs.opened(safe_fs.open_root(tree)) as root:
        assert safe_fs.read_bytes(root, "notes/big.bin") == (big, len(big))
        assert safe_fs.read_bytes(root, "notes/big.bin", max_bytes=1) == (big[:1], len(big))
