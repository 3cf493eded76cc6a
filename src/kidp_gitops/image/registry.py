"""The tags of an image repository, read with the Docker Registry HTTP API v2.

    ref = parse_image("ghcr.io/org/app")
    tags = await list_tags(ref, registryauth.Credentials(...), insecure=False, timeout=30)

The registry is read by the OCI client (`oci/client.py`: the tag pages, bounded reads; the
401 challenge and token flow of `runtime/registryauth.py`), the one OCIRepositories pull
with; this module reads image names as ImageRepository writes them and gives the client's
errors Flux's reasons. Errors are `RegistryError`s whose message never holds a credential.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

from kidp_gitops.oci import client, errors, reference
from kidp_gitops.runtime import outbound, registryauth

DOCKER_HUB = reference.DOCKER_HUB
PAGE_SIZE = client.PAGE_SIZE

AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_FAILED = "ReadOperationFailed"
INVALID_IMAGE = "ImageURLInvalid"


class RegistryError(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


ImageName = reference.Repository
"""An image repository: the same value an OCIRepository's URL names."""


def parse_image(image: str) -> ImageName:
    """The repository an `ImageRepository.spec.image` names (no tag or digest allowed)."""
    text = image.strip()
    if not text or "://" in text or "@" in text:
        raise RegistryError(INVALID_IMAGE, f"'{image}' is not an image name (no scheme, no digest)")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, text
    if host in ("index.docker.io", reference.DOCKER_HUB_API):
        host = DOCKER_HUB
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        raise RegistryError(INVALID_IMAGE, f"image '{image}' must not have a tag")
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not reference.valid_path(path):
        raise RegistryError(INVALID_IMAGE, f"'{image}' is not a valid image name")
    return ImageName(host, path)


async def list_tags(
    image: ImageName,
    credentials: registryauth.Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    page_size: int = PAGE_SIZE,
    http: outbound.Outbound | None = None,
) -> list[str]:
    """Every tag of the repository, in the order the registry lists them (through
    `http`, the engine's outbound HTTP when None)."""
    registry = _client(image, credentials, insecure, tls, timeout, http)
    with _reasons():
        return await registry.tags(page_size)


async def manifest_digest(
    image: ImageName,
    tag: str,
    credentials: registryauth.Credentials | None,
    *,
    insecure: bool = False,
    tls: ssl.SSLContext | None = None,
    timeout: float = 60.0,
    http: outbound.Outbound | None = None,
) -> str:
    """The digest of the manifest `tag` names (`HEAD /v2/<name>/manifests/<tag>`)."""
    registry = _client(image, credentials, insecure, tls, timeout, http)
    with _reasons():
        return await registry.resolve(tag)


def _client(
    image: ImageName,
    credentials: registryauth.Credentials | None,
    insecure: bool,
    tls: ssl.SSLContext | None,
    timeout: float,
    http: outbound.Outbound | None,
) -> client.Client:
    return client.Client(image, credentials, insecure=insecure, tls=tls, timeout=timeout, http=http)


@contextlib.contextmanager
def _reasons() -> Iterator[None]:
    """The OCI client's errors as RegistryErrors with Flux's reasons."""
    try:
        yield
    except errors.AuthError as err:
        raise RegistryError(
            AUTHENTICATION_FAILED, f"{err.message}: check the credentials in spec.secretRef"
        ) from None
    except errors.OCIError as err:
        raise RegistryError(READ_FAILED, err.message) from None
