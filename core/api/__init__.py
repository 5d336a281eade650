"""Cross-cutting API plumbing shared by every app: errors, request ids, auth, tenancy, paging."""
