"""translate's built-in objectives, each registered exactly as a third-party plugin would be."""
