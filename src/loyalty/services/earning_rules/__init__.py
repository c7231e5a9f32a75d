"""Earning rules as versioned data (`book`) and the engine's columns built from a posting (`frames`)."""
