"""Helpers for tests that inject faults: a delaying TCP proxy and throwaway server processes."""
