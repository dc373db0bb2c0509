"""tornadopy's bundled benchmarks (SPEC §16): ``python -m benchmarks.run``; see README.md here."""
