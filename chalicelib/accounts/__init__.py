"""Accounts: identity through Cognito, the bearer-token check of every protected route, profiles."""
