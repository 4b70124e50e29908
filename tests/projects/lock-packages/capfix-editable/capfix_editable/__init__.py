"""capfix-editable: a package installed in editable mode."""

VALUE = 3
