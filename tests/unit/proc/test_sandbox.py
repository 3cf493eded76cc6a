"""A confined child reaches only what it was given: real processes, real namespaces."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kidp_gitops.proc import sandbox
from kidp_gitops.render import errors, runner

ENV = {"PATH": "/usr/bin:/bin", "HOME": sandbox.HOME}


def run(
    argv: list[str],
    cwd: Path,
    *,
    readable: list[Path] | None = None,
    writable: list[Path] | None = None,
    network: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    child = sandbox.confine(
        argv,
        cwd=cwd,
        readable=readable or [],
        writable=writable or [],
        network=network,
        env=env or ENV,
    )
    return subprocess.run(
        child.argv, cwd=child.cwd, env=child.env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(input, outside): the child's input, and a place next to it holding a secret."""
    given, outside = tmp_path / "input", tmp_path / "outside"
    given.mkdir()
    outside.mkdir()
    (given / "mine.txt").write_text("mine\n")
    (outside / "secret.txt").write_text("other tenant's secret\n")
    (given / "link.txt").symlink_to(outside / "secret.txt")
    return given, outside


def test_namespaces_work_on_this_machine() -> None:
    """Every other test here would pass vacuously on a machine without them."""
    assert sandbox.available() is None


def test_the_child_reads_its_input_and_nothing_else(tree: tuple[Path, Path]) -> None:
    given, outside = tree
    assert run(["/usr/bin/cat", "mine.txt"], given, readable=[given]).stdout == "mine\n"
    for path in (str(outside / "secret.txt"), "link.txt", str(Path.home()), "/etc/shadow"):
        done = run(["/usr/bin/cat", path], given, readable=[given])
        assert done.returncode != 0, path
        assert "secret" not in done.stdout


def test_unconfined_the_same_read_succeeds(tree: tuple[Path, Path]) -> None:
    """The positive control: what the sandbox stops is a real route."""
    given, _ = tree
    done = subprocess.run(["/usr/bin/cat", "link.txt"], cwd=given, capture_output=True, text=True)
    assert done.stdout == "other tenant's secret\n"


def test_input_is_read_only_and_writable_dirs_are_not(tmp_path: Path) -> None:
    given, out = tmp_path / "input", tmp_path / "out"
    given.mkdir()
    out.mkdir()
    script = f"echo x > {given}/new; echo y > {out}/new; echo z > /tmp/t; echo w > $HOME/h"
    run(["/bin/sh", "-c", script], given, readable=[given], writable=[out])
    assert not (given / "new").exists()
    assert (out / "new").read_text() == "y\n"


def test_any_path_name_is_given_and_a_given_file_alone(tmp_path: Path) -> None:
    """Names the mount table must escape (a space, a tab, a backslash), a file given
    alone (not its directory), and paths under /tmp and /dev/shm, where the child has a
    /tmp of its own and the host keeps scratch: each reachable, and only what was given."""
    odd = tmp_path / "a dir\twith\\odd x\\040y name"
    odd.mkdir()
    (odd / "f").write_text("odd\n")
    alone = tmp_path / "alone.txt"
    alone.write_text("alone\n")
    (tmp_path / "beside.txt").write_text("beside\n")
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if os.access(shm, os.W_OK) else None) as memory:
        (Path(memory) / "m").write_text("memory\n")
        script = f'cat "{odd}/f" "{alone}" "{memory}/m"; cat "{tmp_path}/beside.txt"; ls -A /'
        given = [odd, alone, Path(memory)]
        done = run(["/bin/sh", "-c", script], odd, readable=given)
        for path in (odd / "new", alone, Path(memory) / "new"):  # given to read, not to write
            refused = run(["/bin/sh", "-c", f'echo x >"{path}"'], odd, readable=given)
            assert "Read-only file system" in refused.stderr, path
    assert not (odd / "new").exists()
    assert alone.read_text() == "alone\n"
    assert done.stdout.startswith("odd\nalone\nmemory\n")
    assert "beside" not in done.stdout
    assert "No such file" in done.stderr
    # Nothing of the set-up is left in the child's root: its mount table, its old root.
    root = set(done.stdout.split("\n")[3:]) - {""}
    assert not {".mounts", ".old"} & root
    assert {"usr", "tmp", "proc", "home"} <= root


def test_a_path_on_a_nosuid_nodev_noexec_mount_is_given_read_only(tmp_path: Path) -> None:
    """As a container's /dev, systemd's /dev/shm and /run are mounted: the read-only bind
    of a path there keeps those flags (in a user namespace the kernel refuses a remount
    that would drop them), so the child reads it and cannot write it. In a mount
    namespace of the test's own, where such a tmpfs is mounted first."""
    locked = tmp_path / "locked"
    locked.mkdir()
    child = "\n".join(
        [
            "import subprocess",
            "from pathlib import Path",
            "from kidp_gitops.proc import sandbox",
            f"given = Path({str(locked)!r}) / 'in'",
            "c = sandbox.confine(['/bin/sh', '-c', 'cat f; echo x > f'], cwd=given,"
            " readable=[given], network=False, env={'PATH': '/usr/bin:/bin'})",
            "done = subprocess.run(c.argv, cwd=c.cwd, env=c.env, capture_output=True, text=True)",
            "print(done.stdout + done.stderr)",
        ]
    )
    script = (
        f'mount -t tmpfs -o nosuid,nodev,noexec locked "{locked}" && mkdir "{locked}/in" && '
        f'echo given >"{locked}/in/f" && exec "{sys.executable}" -c "$0"'
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "--", "/bin/sh", "-c", script, child],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("given\n"), done.stdout
    assert "Read-only file system" in done.stdout, done.stdout


def test_the_child_gets_only_the_environment_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIDP_CANARY", "engine-credential")
    done = run(["/usr/bin/env"], tmp_path, readable=[tmp_path])
    assert "engine-credential" not in done.stdout
    assert f"HOME={sandbox.HOME}" in done.stdout.splitlines()


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(10)

    def accept() -> None:
        try:
            conn, _ = server.accept()
            conn.sendall(b"hello\n")
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()
    thread.join(5)


def test_no_network_unless_asked(tmp_path: Path, listener: int) -> None:
    probe = [
        "/usr/bin/git",
        "ls-remote",
        f"http://127.0.0.1:{listener}/x.git",
    ]
    cut = run(probe, tmp_path, readable=[tmp_path], network=False)
    assert "Couldn't connect" in cut.stderr or "Failed to connect" in cut.stderr
    reached = run(probe, tmp_path, readable=[tmp_path], network=True)
    assert "Couldn't connect" not in reached.stderr
    assert "Failed to connect" not in reached.stderr


def _repo_with_a_base(where: Path) -> Path:
    """A git repository holding a kustomize base, as an engine's mirror would."""
    base = where / "base"
    base.mkdir(parents=True)
    (base / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (base / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: private}\ndata: {k: secret}\n"
    )
    git = ["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return where


def test_kustomize_cannot_clone_a_mirror_on_the_host(tmp_path: Path) -> None:
    """A `git::file://` base that got past every check still reads nothing: kustomize
    runs where the engine's mirrors do not exist. Unconfined, it would read them."""
    mirror = _repo_with_a_base(tmp_path / "data" / "git" / "other-tenant")
    given = tmp_path / "artifact"
    given.mkdir()
    (given / "kustomization.yaml").write_text(
        f"resources: ['git::file://{mirror}//base?ref=main']\n"
    )
    unconfined = subprocess.run(
        [*runner.command(), str(given)], capture_output=True, text=True, timeout=120
    )
    assert "name: private" in unconfined.stdout  # the route is real
    with pytest.raises(errors.BuildError) as caught:
        runner.run(given, timeout=120, replacements={}, readable=[given], network=True)
    assert "secret" not in str(caught.value)


ESCAPE = """
import os
os.makedirs("/tmp/x", exist_ok=True)
try:
    os.chroot("/tmp/x")
    for _ in range(30):
        os.chdir("..")
    os.chroot(".")
except OSError as err:
    print("refused:", err.strerror)
print(sorted(os.listdir("/")))
"""


def test_a_child_cannot_climb_out_as_root_of_its_namespace(tmp_path: Path) -> None:
    """The classic chroot escape (chroot again, climb with ..): the child has no
    capability to chroot, and the host's tree is not mounted in its namespace at all."""
    done = run(["/usr/bin/python3", "-c", ESCAPE], tmp_path, readable=[tmp_path])
    assert "refused: Operation not permitted" in done.stdout, done.stderr
    listed = done.stdout.splitlines()[-1]
    assert "'work'" not in listed
    assert "'root'" not in listed
    unconfined = subprocess.run(
        ["/usr/bin/python3", "-c", "import os; print(sorted(os.listdir('/')))"],
        capture_output=True,
        text=True,
    )
    assert "'root'" in unconfined.stdout  # the positive control: the host has it


def test_the_child_sees_no_process_of_the_engine(tmp_path: Path) -> None:
    done = run(["/usr/bin/ls", "/proc"], tmp_path, readable=[tmp_path])
    pids = [p for p in done.stdout.split() if p.isdigit()]
    assert str(os.getpid()) not in pids
    assert len(pids) < 5  # the build's own: sh's successors, not the host's
