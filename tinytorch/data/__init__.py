"""Data sets and loading (module 05); the embedded digits live here."""
