"""Faulty variants of the emulator, one defect each, that the conformance suite must reject (issue 5)."""
