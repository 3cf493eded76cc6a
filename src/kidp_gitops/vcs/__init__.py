"""Git and version plumbing shared by the controllers that talk to Git remotes (source,
image) and by the CLI: the isolated environment of the `git` program and its credential
handling (`gitenv`), remote URLs (`giturl`), the error tree with Flux's reasons
(`giterrors`), and semantic versions with Flux's range syntax (`semver`).

It sits beside `api`/`kube`/`runtime` in the layering: it imports nothing else of ours,
so every controller may use it without importing another controller.
"""
