"""Live play: H.264 and Opus encoding, the realtime protocol, sessions and their viewers."""
