"""The only code that touches hardware: one small interface per device, a real
implementation of each and a simulated one. Which one runs is decided at wiring time."""
