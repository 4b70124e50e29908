"""capfix-local: a package installed from a local folder."""

VALUE = 1
