"""Mail in and out: MIME building, DKIM, tracking rewrite, unsubscribe headers (outgoing) and
the classifier of inbound messages. Pure functions over bytes and values: no database."""
