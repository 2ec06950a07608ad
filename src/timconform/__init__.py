"""timconform: conformance suite and faithful emulator for Tencent Cloud Chat's friend_import."""

__version__ = "0.1.0"
