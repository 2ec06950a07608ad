"""Pure checks: (request, response[, known state]) -> verdicts by rule id.

The oracle never imports the emulator: it certifies emulators, ours included, so a shared bug would
hide itself. Both read the same catalogues through timconform.spec.
"""
