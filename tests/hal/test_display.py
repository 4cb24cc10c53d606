"""The screens reach the OLED controllers as the bytes luma sends over I2C."""

import numpy as np
import pytest
from luma.core.render import canvas

from stagebox.hal.display import open_dummy, open_oled
from stagebox.ui import screens
from stagebox.ui.view import InsertStickView


class CapturingSerial:
    """A luma serial interface that keeps what it would have sent over I2C."""

    def __init__(self) -> None:
        self.sent_commands: list[int] = []
        self.sent_data: list[int] = []

    def command(self, *cmd: int) -> None:
        self.sent_commands.extend(cmd)

    def data(self, data: list[int]) -> None:
        self.sent_data.extend(data)

    def cleanup(self) -> None:
        """Nothing to release."""


@pytest.mark.parametrize("driver", ["ssd1306", "sh1106"])
def test_a_screen_drawn_on_either_controller_sends_its_pixels(driver):
    serial = CapturingSerial()
    device = open_oled(driver, 1, 0x3C, serial=serial)
    image = screens.render_image(InsertStickView())
    with canvas(device) as draw:
        draw.bitmap((0, 0), image, fill="white")
    lit = sum(bin(byte).count("1") for byte in serial.sent_data)
    assert lit == np.count_nonzero(np.array(image))
    assert 0xAF in serial.sent_commands, "the display was switched on"


def test_the_dummy_keeps_the_last_frame():
    device = open_dummy()
    image = screens.render_image(InsertStickView())
    with canvas(device) as draw:
        draw.bitmap((0, 0), image, fill="white")
    assert device.image.convert("1").tobytes() == image.tobytes()
