-- "Download my data": one account export at a time per account.
CREATE UNIQUE INDEX jobs_one_account_export ON jobs (user_id)
    WHERE kind = 'account_export' AND status IN ('queued', 'running');
