"""Personal data: a customer's export and erasure (manager page and API), and the nightly retention run."""
