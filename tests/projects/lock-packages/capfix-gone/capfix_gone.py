"""capfix-gone: a module whose source folder is deleted after install."""

VALUE = 4
