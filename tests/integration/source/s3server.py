"""The tests' S3-compatible server: versitygw (built from its Go module by hack/s3/build.sh)
with its posix backend, on 127.0.0.1, in a data directory of its own, with a root key pair
made for the run. Buckets and objects are made through kidp's own S3 client (the server
checks every signature)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from kidp_gitops.s3 import client as s3
from kidp_gitops.s3 import sigv4

VERSITYGW_VERSION = "v1.8.0"  # keep in step with hack/s3/build.sh
REPO_ROOT = Path(__file__).resolve().parents[3]


def binaries() -> Path:
    """The bin directory of versitygw, built on first use (cached)."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "hack/s3/build.sh")],
        env={**os.environ, "VERSITYGW_VERSION": VERSITYGW_VERSION},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """A versitygw process serving plain HTTP on loopback."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.port = _free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.access_key = f"kidp{secrets.token_hex(4)}"
        self.secret_key = secrets.token_urlsafe(24)
        self._data = Path(tempfile.mkdtemp(prefix="s3-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> S3Server:
        # The root keys go through the environment, not argv (which `ps` shows).
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
        }
        self._proc = subprocess.Popen(
            [
                str(self.bin / "versitygw"),
                *("--port", self.endpoint, "--quiet"),
                *("posix", str(self._data)),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.endpoint}/", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # it answers (403 to an anonymous request): up
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        shutil.rmtree(self._data, ignore_errors=True)

    def client(self, bucket: str) -> s3.Client:
        """kidp's S3 client for `bucket`, with the root keys."""
        endpoint = s3.Endpoint.parse(self.endpoint, insecure=True)
        creds = sigv4.Credentials(self.access_key, self.secret_key)
        return s3.Client(endpoint, bucket, credentials=creds)
