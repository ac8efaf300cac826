"""Jobs that are not one object's sync: batch start, nightly expiry, retention clean-up, webhook retrigger."""
