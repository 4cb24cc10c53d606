"""What the performer sees and presses: gestures, the menu and the screens."""
