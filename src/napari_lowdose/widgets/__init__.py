"""Dock widgets: one module per widget, thin (read values, call core, show results)."""
