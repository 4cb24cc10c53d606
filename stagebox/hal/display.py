"""The OLED: a luma.oled device over I2C, or luma.core's ``dummy`` for the simulator.

Both are luma devices, so the same ``with canvas(device) as draw`` code draws on either.
"""

from __future__ import annotations

from typing import Any

from luma.core.device import dummy
from luma.core.interface.serial import i2c

WIDTH = 128
HEIGHT = 64


def open_oled(driver: str, i2c_port: int, i2c_address: int, rotate: int = 0,
              contrast: int = 255, serial: Any = None) -> Any:
    """Open the real OLED (``ssd1306`` or ``sh1106``) on an I2C bus.

    ``serial`` replaces the I2C bus with another luma serial interface (tests).
    """
    # Imported only here: luma.oled imports luma.core.virtual, which starts four threads
    # as it is imported, and the box forks its decoder launcher before any thread runs.
    from luma.oled import device as oled

    controllers = {"ssd1306": oled.ssd1306, "sh1106": oled.sh1106}
    if serial is None:
        serial = i2c(port=i2c_port, address=i2c_address)
    device = controllers[driver](serial, width=WIDTH, height=HEIGHT, rotate=rotate)
    device.contrast(contrast)
    return device


def open_dummy(rotate: int = 0) -> Any:
    """A display that keeps the last frame in memory (``device.image``)."""
    return dummy(width=WIDTH, height=HEIGHT, rotate=rotate, mode="1")
