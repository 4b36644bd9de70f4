"""The application layer: commands, their handlers, the message bus and its wiring."""
