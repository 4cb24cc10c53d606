"""What is on a USB stick: songs, setlists and their options."""
