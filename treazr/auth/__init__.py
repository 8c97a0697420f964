"""Accounts and sign-in: users, devices (Ed25519 keys), invites, sessions, TLS on the LAN."""
