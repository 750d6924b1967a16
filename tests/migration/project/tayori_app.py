"""Option A: the same project on tayori (settings from TAYORI_* variables)."""

import tayori

app = tayori.App("proj")
