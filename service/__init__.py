"""ftapi's service: the api and ctl worker processes, the domains they share (files, uploads,
datasets, jobs, models, serving, webhooks) and their storage, queue and HTTP foundations. No
torch: this package is all the api image installs (``docs/architecture.md`` has the map)."""
