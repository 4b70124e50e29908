"""capfix_ns.a: one portion of a namespace package."""

VALUE = 5
