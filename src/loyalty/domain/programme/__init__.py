"""The programme engine's rules and their evaluation: data a marketer configures, evaluated the same
way on one sale and on a million imported lines (`engine.earn`)."""
