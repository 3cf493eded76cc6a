from __future__ import annotations

import pytest

from kidp_gitops.image import registry


@pytest.mark.parametrize(
    ("image", "host", "path"),
    [
        ("alpine", "docker.io", "library/alpine"),
        ("org/app", "docker.io", "org/app"),
        ("index.docker.io/org/app", "docker.io", "org/app"),
        ("ghcr.io/org/team/app", "ghcr.io", "org/team/app"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000", "app"),
        ("localhost/app", "localhost", "app"),
    ],
)
def test_parse_image(image: str, host: str, path: str) -> None:
    name = registry.parse_image(image)
    assert (name.host, name.path) == (host, path)


@pytest.mark.parametrize("image", ["ghcr.io/org/app:1.0", "https://ghcr.io/app", "Org/App", ""])
def test_parse_image_refuses_what_is_no_repository(image: str) -> None:
    with pytest.raises(registry.RegistryError) as err:
        registry.parse_image(image)
    assert err.value.reason == registry.INVALID_IMAGE
