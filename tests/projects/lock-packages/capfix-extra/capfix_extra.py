"""capfix-extra: a module whose "fancy" extra needs six."""

VALUE = 2
