"""Route modules; each exports ``ROUTES`` and says who may call every handler in it."""
