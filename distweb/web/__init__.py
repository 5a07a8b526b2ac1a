"""HTTP layer: one blueprint package per audience. Routes parse, call a service, render."""
