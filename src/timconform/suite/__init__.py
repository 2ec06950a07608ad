"""The conformance suite: scenarios that exercise the rules against any target."""
