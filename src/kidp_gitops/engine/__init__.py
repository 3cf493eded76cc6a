"""The engine process: every controller in one manager, plus the artifact server.
`kidp controller run` starts it; tests and benchmarks start it in-process or apart."""
