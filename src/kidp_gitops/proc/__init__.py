"""Running other programs: `sandbox` confines a build (namespaces, limits)."""
