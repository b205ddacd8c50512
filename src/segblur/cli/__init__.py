"""Command-line door: parse options, call the library, report. No logic a library user would want."""
