"""OfficeGuard agent: sources, parsers, sensors, rules; everything that touches the network."""
