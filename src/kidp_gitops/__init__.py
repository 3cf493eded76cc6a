"""kidp-gitops: a GitOps engine that serves Flux's APIs."""

__version__ = "0.1.0"
