"""Data checks as saved suites: drafted from a profile, validated on any dataset version, reused by pipelines."""
