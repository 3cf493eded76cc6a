"""The Debian packages of the image: resolved by apt, downloaded, extracted without dpkg.

    Apt(root).update()                         package lists of SUITE, in a directory of ours
    Apt(root).resolve(ROOTS, CUT) -> [name]    the closure of ROOTS' dependencies, minus CUT
    Apt(root).download(names) -> [Deb]         the candidate .deb of each (cached by file name)
    extract(deb, rootfs, skip)                 one package's files, /usr merged

apt runs with a configuration of its own (lists, archives, sources, an empty dpkg status)
under the build cache, so the host's apt state is neither read nor written and no root is
needed. Nothing runs a package's maintainer scripts: the few effects we need (the CA
bundle, users) are made by `rootfs`. The root filesystem is extracted, not installed,
so it carries neither apt nor dpkg nor the Essential set; what the engine runs is named
in ROOTS, and what those packages depend on but the engine never uses is cut (CUT, each
with its reason).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# trixie's Python (3.13): bookworm's 3.11.2 predates tarfile's extraction filters, which
# storage/untar.py needs (3.11.4).
SUITE = "trixie"
ARCH = "amd64"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")  # trixie's keys since 2023
SOURCES = f"""\
Types: deb
URIs: http://deb.debian.org/debian
Suites: {SUITE} {SUITE}-updates
Components: main
Signed-By: {KEYRING}

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {SUITE}-security
Components: main
Signed-By: {KEYRING}
"""

ROOTS = (
    "base-files",  # /etc/os-release: what scanners read to know the distribution
    "dash",  # /bin/sh: git runs hooks and aliases through it, the build sandbox its script
    "coreutils",  # env and true, which the build sandbox runs
    "util-linux",  # unshare and setpriv: the build sandbox (proc/sandbox.py)
    "mount",  # mount: the build sandbox
    "python3",
    "libstdc++6",  # wheels built against it and not bundling it (google-re2)
    "git",
    "openssh-client",  # ssh and ssh-keygen for Git over SSH
    "gpg",  # verifying signed commits and tags; SOPS' PGP keys
    "gpg-agent",  # gpg decrypts with a secret key only through its agent (SOPS)
    "ca-certificates",
)

CUT = {
    # git's Perl scripts (send-email, svn, archimport) and its manual: the engine runs
    # git's C commands only.
    "perl": "git's Perl scripts are never run",
    "liberror-perl": "git's Perl scripts are never run",
    "git-man": "no manuals in the image",
    # Maintainer-script machinery: nothing is configured at install time here.
    "adduser": "users are written by the build",
    "passwd": "users are written by the build",
    "debconf": "no maintainer scripts run",
    "cdebconf": "no maintainer scripts run",
    "util-linux-extra": "none of its programs is used",
    "gnupg-l10n": "no translations in the image",
    "pinentry-curses": "gpg runs in batch mode, never asking for a passphrase",
    # Packaging machinery that base-files and util-linux name for their maintainer
    # scripts; this root filesystem is extracted, and merged-/usr made, by the build.
    "dpkg": "packages are extracted, not installed",
    "tar": "packages are extracted, not installed",
    "init-system-helpers": "no init system, no maintainer scripts",
    "usrmerge": "the build makes /usr merged",
    "usr-is-merged": "the build makes /usr merged",
    "gawk": "awk runs in maintainer scripts only",
    "mawk": "awk runs in maintainer scripts only",
    "original-awk": "awk runs in maintainer scripts only",
    # PAM's modules and configuration: nothing here logs in or changes user (libpam0g,
    # which util-linux links, stays).
    "libpam-modules": "no login or su in the image",
    "libpam-modules-bin": "no login or su in the image",
    "libpam-runtime": "no login or su in the image",
}

# Paths never extracted: documentation, manuals, translations, packaging metadata.
SKIP = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/share/bug/",
    "usr/share/bash-completion/",
    "usr/share/zsh/",
    "usr/share/gnupg/help.",
    "usr/share/common-licenses/",
)

# Older packages still ship /bin, /sbin and /lib; a merged-/usr system keeps them under
# /usr, the top-level names being links.
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    path: Path
    sha256: str


class AptError(Exception):
    pass


class Apt:
    """apt-get and apt-cache over a state directory of our own (`root`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archives = root / "archives"

    def _options(self) -> list[str]:
        r = self.root
        return [
            f"-oDir::Etc::SourceList={r / 'etc' / 'none.list'}",
            f"-oDir::Etc::SourceParts={r / 'etc' / 'sources.list.d'}",
            f"-oDir::Etc::Preferences={r / 'etc' / 'preferences'}",
            f"-oDir::Etc::PreferencesParts={r / 'etc' / 'preferences.d'}",
            f"-oDir::State={r / 'state'}",
            f"-oDir::State::Lists={r / 'lists'}",
            f"-oDir::State::status={r / 'state' / 'status'}",
            f"-oDir::Cache={r / 'cache'}",
            f"-oDir::Cache::Archives={self.archives}",
            f"-oAPT::Architecture={ARCH}",
            "-oAPT::Architectures::=",
            "-oAPT::Install-Recommends=false",
            "-oDebug::NoLocking=true",
            "-oAcquire::Languages=none",
        ]

    def _run(self, program: str, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            [program, *self._options(), *args], capture_output=True, text=True, cwd=cwd
        )
        if done.returncode != 0:
            raise AptError(f"{program} {args[0]} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def update(self) -> None:
        r = self.root
        for d in ("etc/sources.list.d", "etc/preferences.d", "state", "lists/partial", "cache"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (self.archives / "partial").mkdir(parents=True, exist_ok=True)
        (r / "etc" / "none.list").write_text("")
        (r / "etc" / "sources.list.d" / "debian.sources").write_text(SOURCES)
        (r / "state" / "status").write_text("")
        self._run("apt-get", "update", "-q")

    def resolve(self, roots: Iterable[str], cut: Iterable[str]) -> list[str]:
        """Every package `roots` need (Pre-Depends and Depends; the first of
        alternatives; a virtual package's first provider), except `cut` and what only
        `cut` needed, sorted."""
        excluded = set(cut)
        found: set[str] = set()
        queue = [r for r in roots if r not in excluded]
        while queue:
            batch = sorted(set(queue) - found)
            queue = []
            if not batch:
                break
            found.update(batch)
            out = self._run(
                "apt-cache",
                "depends",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
                *batch,
            )
            for dep in _first_choices(out, excluded):
                if dep not in found:
                    queue.append(dep)
        return sorted(found)

    def download(self, names: Iterable[str]) -> list[Deb]:
        """The candidate .deb of each package, downloaded once into the archives."""
        wanted = sorted(names)
        listing = self._run("apt-get", "download", "--print-uris", *wanted)
        debs: list[Deb] = []
        missing: list[str] = []
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) < 4 or not parts[3].startswith("SHA256:"):
                continue
            deb = self._deb(parts[1], parts[3].removeprefix("SHA256:"))
            if not (deb.path.exists() and _sha256(deb.path) == deb.sha256):
                missing.append(deb.name)
            debs.append(deb)
        if missing:
            self._run("apt-get", "download", "-q", *missing, cwd=self.archives)
        for deb in debs:
            if _sha256(deb.path) != deb.sha256:
                raise AptError(f"{deb.path.name}: its sha256 is not the archive's")
        if sorted(d.name for d in debs) != wanted:
            raise AptError(f"apt did not list every package: {wanted}")
        return debs

    def kept(self, files: Mapping[str, str]) -> list[Deb] | None:
        """The .debs an earlier build used (file name → sha256), from the archives without
        asking the mirror; None when one is gone or is not the file it was."""
        debs = [self._deb(filename, digest) for filename, digest in sorted(files.items())]
        if all(d.path.is_file() and _sha256(d.path) == d.sha256 for d in debs):
            return debs
        return None

    def _deb(self, filename: str, sha256: str) -> Deb:
        name, version = filename.split("_")[:2]
        return Deb(name, version.replace("%3a", ":"), self.archives / filename, sha256)


def _first_choices(depends_output: str, excluded: set[str]) -> Iterable[str]:
    """The package chosen for each dependency in `apt-cache depends` output."""
    group: list[str] = []  # the alternatives of the current "|" group
    providers: dict[str, list[str]] = {}
    current_virtual = ""
    choices: list[list[str]] = []
    for line in depends_output.splitlines():
        stripped = line.strip()
        if line.startswith("    "):  # a provider of the virtual package just named
            providers.setdefault(current_virtual, []).append(stripped.split(":")[0])
            continue
        if not line.startswith(" "):
            continue
        alternative = line.startswith(" |")
        kind, _, name = stripped.lstrip("|").partition(": ")
        if kind not in ("Depends", "PreDepends"):
            continue
        name = name.split(":")[0]
        current_virtual = name
        group.append(name)
        if not alternative:
            choices.append(group)
            group = []
    for alternatives in choices:
        picked = _pick(alternatives, providers, excluded)
        if picked:
            yield picked


def _pick(alternatives: list[str], providers: dict[str, list[str]], excluded: set[str]) -> str:
    for name in alternatives:
        if name.startswith("<"):  # virtual: its providers, in apt's order
            real = [p for p in providers.get(name, []) if p not in excluded]
            if real:
                return real[0]
            continue
        return "" if name in excluded else name
    return ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def control(deb: Deb) -> str:
    """The package's control paragraph, as dpkg's status file holds it."""
    done = subprocess.run(["dpkg-deb", "-f", str(deb.path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise AptError(f"{deb.path.name}: {done.stderr.strip()}")
    lines = done.stdout.rstrip("\n").splitlines()
    return "\n".join([lines[0], "Status: install ok installed", *lines[1:]]) + "\n"


def merged(name: str) -> str:
    """`name` (relative, no leading ./) on a merged-/usr system."""
    top, _, rest = name.partition("/")
    if top in MERGED:
        return f"usr/{top}/{rest}" if rest else f"usr/{top}"
    return name


def extract(deb: Deb, rootfs: Path, skip: Callable[[str], bool]) -> None:
    """The files of `deb` under `rootfs`, /usr merged, without what `skip` says. Modes
    keep their permission bits only: no setuid or setgid program in the image."""
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb.path)], stdout=subprocess.PIPE
    ) as p:
        assert p.stdout is not None
        with tarfile.open(fileobj=p.stdout, mode="r|") as tar:
            for member in tar:
                raw = member.name.removeprefix("./").rstrip("/")
                name = merged(raw)
                # /bin, /lib… themselves: the build made them links already (trixie's
                # base-files ships them too).
                if raw in MERGED or not name or skip(name):
                    continue
                target = rootfs / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                if member.issym():
                    target.symlink_to(member.linkname)
                elif member.islnk():
                    source = rootfs / merged(member.linkname.removeprefix("./"))
                    shutil.copy2(source, target)
                elif member.isfile():
                    data = tar.extractfile(member)
                    assert data is not None
                    with open(target, "wb") as f:
                        shutil.copyfileobj(data, f)
                    target.chmod(member.mode & 0o777)
    if p.returncode != 0:
        raise AptError(f"{deb.path.name}: dpkg-deb could not read it")
