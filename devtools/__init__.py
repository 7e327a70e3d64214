"""Development and test tooling, not shipped in the server package: throwaway PostgreSQL and Redis servers
and a local cluster (`make cluster`). Production never imports these."""
