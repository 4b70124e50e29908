"""capfix_ns.b: another portion of the same namespace package."""

VALUE = 6
