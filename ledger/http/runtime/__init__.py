"""How the app is run: the server around it, and what serve answers before the app can start."""
