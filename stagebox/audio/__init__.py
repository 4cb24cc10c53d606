"""The audio engine: songs loaded into memory, decoded in a child process, mixed and played."""
