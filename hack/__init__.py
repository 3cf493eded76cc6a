"""Build tools of the repository (`make image`); not part of the package."""
