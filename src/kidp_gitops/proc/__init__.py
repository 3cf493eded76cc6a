"""Running other programs and cleaning up after them: `run` (the one way a program runs),
`sandbox` (a build confined: namespaces, limits), `background` (trees deleted in a
worker thread without waiting)."""
