"""Artifact storage shared by the controllers: the source controller writes artifacts,
the Kustomize and Helm controllers read them (in-process, or over HTTP when they run
apart). Controllers never import each other; they meet here and at the API server."""
