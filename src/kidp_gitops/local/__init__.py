"""The local environment of `kidp up`: the control plane, a git server holding the
example repository, the engine, and the GitOps objects that sync one from the other."""
