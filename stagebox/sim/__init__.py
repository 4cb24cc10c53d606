"""The simulator: the real box on simulated hardware and a virtual clock."""
