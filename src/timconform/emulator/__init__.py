"""A faithful, stateful emulator of friend_import and its companion operations."""

from timconform.emulator.app import Emulator, create_app
from timconform.emulator.config import DEMO_ADMIN, DEMO_SDKAPPID, DEMO_SECRET_KEY, EmulatorConfig

__all__ = ["DEMO_ADMIN", "DEMO_SDKAPPID", "DEMO_SECRET_KEY", "Emulator", "EmulatorConfig", "create_app"]
