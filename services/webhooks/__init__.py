"""Webhooks: a user's HTTPS endpoints that are told when something they care about happens."""
