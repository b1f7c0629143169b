"""notifications: turns `matches.v1` into suggestions members hear about, each pair once."""
