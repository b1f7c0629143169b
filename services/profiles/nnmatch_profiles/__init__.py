"""profiles: accepts member profiles over HTTP and publishes them to `profiles.v1`."""
