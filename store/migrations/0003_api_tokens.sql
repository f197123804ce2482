-- API tokens for the CRM's quick actions: only a SHA-256 of each token is kept.

CREATE TABLE api_tokens (
  name        TEXT PRIMARY KEY,
  token_hash  TEXT NOT NULL UNIQUE,
  created_ms  BIGINT NOT NULL,
  revoked_ms  BIGINT
);
