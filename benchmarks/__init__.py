"""govhub's benchmarks: performance targets live here, never in timed tests (see README.md)."""
