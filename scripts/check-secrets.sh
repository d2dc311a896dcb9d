#!/bin/sh
# Fails if a secret is committed: AWS keys, private keys, or a secret variable given a value
# in wrangler.toml (secrets belong in `wrangler secret put`, never in the repository).
set -eu
cd "$(dirname "$0")/.."
found=0
report() { echo "secret check: $1"; found=1; }

# AWS access key ids (AKIA…/ASIA… with 16 more), and private key blocks, in any tracked file.
if git grep --untracked -nE '(AKIA|ASIA)[0-9A-Z]{16}' -- . ':!*.lock' ':!package-lock.json'; then
  report "an AWS access key id is committed"
fi
if git grep --untracked -nE -- '-----BEGIN [A-Z ]*PRIVATE KEY-----' -- .; then
  report "a private key is committed"
fi
# aws_secret_access_key = "…" (40 base64 characters) as configuration, anywhere.
if git grep --untracked -nEi 'secret_access_key["'"'"' ]*[:=][ "'"'"']*[A-Za-z0-9/+]{40}' -- .; then
  report "an AWS secret access key is committed"
fi
# wrangler.toml may name the secrets in comments only.
if grep -nE '^[[:space:]]*(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|IP_HASH_KEY|LOG_KEYS|READ_KEYS)[[:space:]]*=' wrangler.toml; then
  report "wrangler.toml gives a secret a value: use wrangler secret put"
fi
[ "$found" -eq 0 ] && echo "secret check: no secrets in the repository"
exit "$found"
