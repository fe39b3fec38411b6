"""Customer notifications: the outbox, rendering and sending through the channel backends, quiet hours,
and what the day tells customers (a plan, a status change, a promised window that slips)."""
