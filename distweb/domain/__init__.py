"""Pure rules (standard library only): no database, no Flask."""
