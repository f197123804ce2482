-- API tokens get scopes: what a token may call ("actions": the CRM's sync/open/query;
-- "operator": work-order and event recovery, history). Tokens made before scopes existed were
-- made for the CRM's quick actions, so they keep exactly that.

ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'actions';
