"""The tests' S3-compatible server: versitygw (built from its Go module by hack/s3/build.sh)
with its posix backend, on 127.0.0.1, in a data directory of its own, with a root key pair
made for the run; plain HTTP, or HTTPS with a given certificate. Buckets and objects are
made through kidp's own S3 client (the server checks every signature)."""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.s3 import client as s3
from kidp_gitops.s3 import sigv4
from tests.gitserver.keys import Certificate

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


class S3Server:
    """A versitygw process on loopback: plain HTTP, or HTTPS presenting `certificate`."""

    def __init__(self, certificate: Certificate | None = None) -> None:
        self.bin = binaries()
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.access_key = f"kidp{secrets.token_hex(4)}"
        self.secret_key = secrets.token_urlsafe(24)
        self._data = Path(tempfile.mkdtemp(prefix="s3-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.certificate = certificate
        self.scheme = "https" if certificate else "http"

    def __enter__(self) -> S3Server:
        # The root keys go through the environment, not argv (which `ps` shows).
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY_ID": self.access_key,
            "ROOT_SECRET_ACCESS_KEY": self.secret_key,
        }
        tls: list[str] = []
        if self.certificate is not None:
            (self._data.parent / f"{self._data.name}.crt").write_bytes(self.certificate.cert)
            (self._data.parent / f"{self._data.name}.key").write_bytes(self.certificate.key)
            tls = ["--cert", f"{self._data}.crt", "--key", f"{self._data}.key"]
        self._proc = subprocess.Popen(
            [
                str(self.bin / "versitygw"),
                *("--port", self.endpoint, "--quiet", *tls),
                *("posix", str(self._data)),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        unverified = ssl._create_unverified_context()  # only to see that it answers
        while True:
            try:
                url = f"{self.scheme}://{self.endpoint}/"
                with urllib.request.urlopen(url, timeout=2, context=unverified):
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
            # It waits for open connections (the engine's pool keeps some) before it exits:
            # nothing of its state is kept, so it is not waited for long.
            self._proc.terminate()
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        shutil.rmtree(self._data, ignore_errors=True)
        for suffix in (".crt", ".key"):
            Path(f"{self._data}{suffix}").unlink(missing_ok=True)

    def client(self, bucket: str) -> s3.Client:
        """kidp's S3 client for `bucket`, with the root keys (trusting the certificate)."""
        endpoint = s3.Endpoint.parse(self.endpoint, insecure=self.certificate is None)
        creds = sigv4.Credentials(self.access_key, self.secret_key)
        tls = None
        if self.certificate is not None:
            tls = ssl.create_default_context(cadata=self.certificate.cert.decode())
        return s3.Client(endpoint, bucket, credentials=creds, tls=tls)
