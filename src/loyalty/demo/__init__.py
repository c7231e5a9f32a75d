"""The demo chain: a seeded, believable brand whose history goes through the real import path."""
